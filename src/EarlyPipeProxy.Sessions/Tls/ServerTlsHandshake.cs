using System.IO.Pipelines;
using System.Net.Security;

namespace EarlyPipeProxy.Sessions.Tls;

/// <summary>The server side of a TLS handshake over a connection's pipes (STARTTLS or TLS-on-connect).</summary>
public static class ServerTlsHandshake
{
    /// <summary>
    /// Runs the handshake with the provider's current certificate. Returns the encrypted pipes and whether the
    /// session was resumed; throws AuthenticationException, IOException or OperationCanceledException when it fails
    /// (the stream is disposed then).
    /// </summary>
    public static async ValueTask<(TlsDuplexPipe Pipe, bool Resumed)> RunAsync(
        IDuplexPipe transport, ServerCertificateProvider certificates, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(certificates);
        var raw = new DuplexPipeStream(transport);
        var stream = new SslStream(raw, leaveInnerStreamOpen: false);
        var certificate = certificates.Current;
        var options = new SslServerAuthenticationOptions
        {
            ServerCertificateContext = certificate,
            ClientCertificateRequired = false,
            AllowRenegotiation = false,
        };
        try
        {
            await stream.AuthenticateAsServerAsync(options, cancellationToken);
        }
        catch
        {
            await stream.DisposeAsync();
            throw;
        }

        // .NET does not say whether a session was resumed; the handshake does: a full one carries our certificate,
        // an abbreviated one (TLS 1.2 session ID or ticket, TLS 1.3 PSK) does not, so it is shorter than the
        // certificate alone. Exim marks resumption with '*' after the cipher (log_selector +tls_resumption).
        var resumed = raw.BytesWritten < certificate.TargetCertificate.RawData.Length;
        return (new TlsDuplexPipe(stream), resumed);
    }
}
