namespace EarlyPipeProxy.Sessions.Configuration;

/// <summary>The legacy MTA behind an inbound listener.</summary>
public sealed class BackendOptions
{
    /// <summary>host:port (IPv6 as [addr]:port).</summary>
    public string Address { get; set; } = "127.0.0.1:25";

    public ClientIdentityMode ClientIdentity { get; set; } = ClientIdentityMode.Xclient;
}
