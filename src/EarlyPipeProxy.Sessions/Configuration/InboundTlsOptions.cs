namespace EarlyPipeProxy.Sessions.Configuration;

/// <summary>TLS toward clients: with a certificate, STARTTLS is offered (or the listener is TLS-on-connect).</summary>
public sealed class InboundTlsOptions
{
    /// <summary>PEM file with the certificate, optionally followed by its intermediates.</summary>
    public string? CertificatePath { get; set; }

    /// <summary>PEM file with the private key (may be the same file as the certificate).</summary>
    public string? KeyPath { get; set; }

    public bool IsConfigured => !string.IsNullOrWhiteSpace(CertificatePath);
}
