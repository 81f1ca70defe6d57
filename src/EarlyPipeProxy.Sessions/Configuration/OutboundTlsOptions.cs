namespace EarlyPipeProxy.Sessions.Configuration;

/// <summary>TLS toward the remote server of an outbound listener.</summary>
public sealed class OutboundTlsOptions
{
    public OutboundTlsMode Mode { get; set; } = OutboundTlsMode.Opportunistic;

    /// <summary>Check the remote's certificate chain and name. Opportunistic TLS to MX hosts usually cannot (RFC 7435).</summary>
    public bool VerifyCertificate { get; set; }

    /// <summary>PEM CA certificates that anchor the remote's chain; unset: the system store.</summary>
    public string? TrustedCaPath { get; set; }

    /// <summary>The name sent as SNI and checked against the certificate; unset: the host of Upstream.</summary>
    public string? ServerName { get; set; }
}
