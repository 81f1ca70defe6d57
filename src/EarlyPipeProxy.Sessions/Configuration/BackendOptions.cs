namespace EarlyPipeProxy.Sessions.Configuration;

/// <summary>The legacy MTA behind an inbound listener.</summary>
public sealed class BackendOptions
{
    /// <summary>host:port (IPv6 as [addr]:port).</summary>
    public string Address { get; set; } = "127.0.0.1:25";

    public ClientIdentityMode ClientIdentity { get; set; } = ClientIdentityMode.Xclient;

    /// <summary>
    /// With XCLIENT: look up the client's forward-confirmed PTR name (in parallel with the backend connection) and
    /// send it as NAME=; when false, NAME=[UNAVAILABLE] is sent and the backend does no name checks of its own.
    /// </summary>
    public bool LookupClientName { get; set; } = true;

    public BackendTlsMode Tls { get; set; } = BackendTlsMode.None;

    /// <summary>With <see cref="Tls"/>: check the backend's certificate chain and name (<see cref="TlsServerName"/>).</summary>
    public bool VerifyCertificate { get; set; } = true;

    /// <summary>
    /// PEM file of CA certificates that anchor the backend's certificate chain instead of the system store
    /// (a private CA for the backend, typical on a trusted segment).
    /// </summary>
    public string? TrustedCaPath { get; set; }

    /// <summary>Name expected in the backend's certificate and sent as SNI; defaults to the host part of <see cref="Address"/>.</summary>
    public string? TlsServerName { get; set; }
}
