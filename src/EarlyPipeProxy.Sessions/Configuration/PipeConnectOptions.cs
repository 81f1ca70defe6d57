namespace EarlyPipeProxy.Sessions.Configuration;

/// <summary>Early pipelining toward clients (Exim's pipelining_connect_advertise_hosts).</summary>
public sealed class PipeConnectOptions
{
    /// <summary>
    /// Client networks that are offered the keyword and whose pre-banner input is accepted: "*", an address, or CIDR.
    /// Input before the banner from any other client is a synchronization error. Unset means "*"; [":"] means nobody.
    /// (Null rather than a default array: the configuration binder appends to an existing array instead of replacing it.)
    /// </summary>
    public string[]? AdvertiseHosts { get; set; }

    /// <summary>The EHLO keyword to advertise: PIPECONNECT for Exim ≥ 4.96 (4.95: PIPE_CONNECT, 4.92-4.94: X_PIPE_CONNECT).</summary>
    public string Keyword { get; set; } = Protocol.Capabilities.EarlyPipeKeywords.PipeConnect;
}
