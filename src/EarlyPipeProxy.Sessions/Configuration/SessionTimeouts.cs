namespace EarlyPipeProxy.Sessions.Configuration;

public sealed class SessionTimeouts
{
    public TimeSpan BackendConnect { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Reverse lookup of the client for XCLIENT NAME=; on timeout the name is [TEMPUNAVAIL].</summary>
    public TimeSpan ClientNameLookup { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>Wait for the backend's final greeting line (postscreen holds its "220-" teaser for seconds).</summary>
    public TimeSpan Banner { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>Wait for the client's next command (RFC 5321 §4.5.3.2.7: 5 minutes).</summary>
    public TimeSpan Command { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Wait for more message data from the client (RFC 5321 §4.5.3.2.6: 3 minutes per block).</summary>
    public TimeSpan Data { get; set; } = TimeSpan.FromMinutes(3);

    /// <summary>Wait for a backend reply (RFC 5321 §4.5.3.2.6: 10 minutes for the end-of-data reply).</summary>
    public TimeSpan BackendReply { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>A TLS handshake, with the client or with the backend.</summary>
    public TimeSpan TlsHandshake { get; set; } = TimeSpan.FromSeconds(30);
}
