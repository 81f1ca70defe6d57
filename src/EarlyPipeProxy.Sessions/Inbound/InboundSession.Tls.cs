using System.Buffers;
using System.Security.Authentication;
using EarlyPipeProxy.Protocol.ClientIdentity;
using EarlyPipeProxy.Sessions.Backend;
using EarlyPipeProxy.Sessions.Tls;

namespace EarlyPipeProxy.Sessions.Inbound;

// TLS: STARTTLS and TLS-on-connect toward the client, STARTTLS toward the backend.
public sealed partial class InboundSession
{
    private static ReadOnlySpan<byte> StartTlsCommand => "STARTTLS\r\n"u8;

    private TlsDuplexPipe? _clientTls;
    private bool _needEhlo;
    private bool _authenticated;
    private string _backendTlsField = string.Empty;

    /// <summary>
    /// STARTTLS (RFC 3207). The go-ahead is ours, since the backend's own TLS is not what the client sees.
    /// Cleartext that came after the command is thrown away before the handshake, never executed after it
    /// (CVE-2011-0411); then the client starts over with EHLO.
    /// </summary>
    private async ValueTask StartTlsAsync()
    {
        if (_listener.Certificates is null)
        {
            await LocalReplyAsync(ProxyReplies.StartTlsUnavailable);
            return;
        }

        if (_clientTls is not null)
        {
            await LocalReplyAsync(ProxyReplies.TlsAlreadyActive);
            return;
        }

        if (_inTransaction)
        {
            await LocalReplyAsync(ProxyReplies.TransactionInProgress);
            return;
        }

        // The backend never sees our STARTTLS, so it would not forget a login made in cleartext (RFC 3207 §4.2
        // wants everything learnt before TLS discarded): refuse rather than carry the login across.
        if (_authenticated)
        {
            await LocalReplyAsync(ProxyReplies.StartTlsAfterAuth);
            return;
        }

        // What the client sent before it could have seen our go-ahead is not TLS: drop it now, before the 220
        // leaves. Anything after the 220 belongs to the handshake (a fast client's ClientHello arrives at once).
        await DrainAsync();
        if (_client.Input.TryRead(out var leftover))
        {
            if (!leftover.Buffer.IsEmpty)
            {
                LogInputAfterStartTls(_logger, _clientEndPoint.Address, _clientEndPoint.Port, _listener.Name, leftover.Buffer.Length);
            }

            _client.Input.AdvanceTo(leftover.Buffer.End);
        }

        WriteToClient(ProxyReplies.StartTlsGoAhead);
        await FlushClientAsync();
        if (!await HandshakeWithClientAsync())
        {
            _sessionOver = true;
            return;
        }

        _needEhlo = true;
    }

    /// <summary>The server side of a handshake over the client's current pipes; false (session over) when it fails.</summary>
    private async ValueTask<bool> HandshakeWithClientAsync()
    {
        TlsDuplexPipe secured;
        bool resumed;
        try
        {
            (secured, resumed) = await ServerTlsHandshake.RunAsync(_client, _listener.Certificates!, Deadline(_options.Timeouts.TlsHandshake));
        }
        catch (Exception ex) when (ex is AuthenticationException or IOException or OperationCanceledException && !_aborted.IsCancellationRequested)
        {
            LogClientHandshakeFailed(_logger, _clientEndPoint.Address, _clientEndPoint.Port, _listener.Name, ex.Message);
            _end = "TLS handshake failed";
            return false;
        }
        finally
        {
            ClearDeadline();
        }

        _clientTls = secured;
        _client = _clientTls;
        var stream = secured.Stream;
        _tlsField = " X=" + Tls.TlsDescription.Describe(stream) + (resumed ? "*" : string.Empty);
        _metrics?.TlsHandshake(_listener.Name, Telemetry.Direction.Inbound, "client", resumed);
        return true;
    }

    /// <summary>
    /// STARTTLS toward the backend, before anything of the client's: our EHLO, STARTTLS, its 220, the handshake
    /// (certificate checked against <see cref="Configuration.BackendOptions.TlsServerName"/> unless turned off).
    /// </summary>
    private async ValueTask StartBackendTlsAsync()
    {
        var backend = _backend!;
        if (!await BackendOffersAsync("STARTTLS"))
        {
            throw new BackendUnavailableException(BackendFailure.MalformedReply, "backend does not offer STARTTLS (Backend:Tls is StartTls)");
        }

        backend.Output.Write(StartTlsCommand);
        await FlushBackendAsync();
        var goAhead = await ReadBackendReplyAsync(_options.Timeouts.BackendReply);
        var code = goAhead.Code;
        backend.ReleaseReply();
        if (code != 220)
        {
            throw new BackendUnavailableException(BackendFailure.MalformedReply, $"backend refused STARTTLS with {code}");
        }

        var options = Tls.TlsClientOptions.Create(
            _options.Backend.TlsServerName ?? _listener.BackendHostName, _options.Backend.VerifyCertificate, _listener.BackendTrustAnchors);
        try
        {
            await backend.UpgradeToTlsAsync(options, Deadline(_options.Timeouts.TlsHandshake));
            _backendTlsField = " BX=" + Tls.TlsDescription.Describe(backend.TlsStream!);
            _metrics?.TlsHandshake(_listener.Name, Telemetry.Direction.Inbound, "upstream", backend.TlsResumed);
        }
        catch (OperationCanceledException) when (!_aborted.IsCancellationRequested)
        {
            throw new BackendUnavailableException(BackendFailure.Timeout, "TLS handshake with the backend timed out");
        }
        finally
        {
            ClearDeadline();
        }
    }

    private async ValueTask CloseClientTlsAsync()
    {
        if (_clientTls is not null)
        {
            await _clientTls.DisposeAsync();
        }
    }

    /// <summary>The PP2_TYPE_SSL facts for a PROXY v2 header ("TLSv1.3" spelling, as OpenSSL and HAProxy write it).</summary>
    private ProxyTlsInfo? ProxyTlsInfoOrNull()
    {
        if (_clientTls is null)
        {
            return null;
        }

        var stream = _clientTls.Stream;
        return new ProxyTlsInfo(Tls.TlsDescription.VersionName(stream.SslProtocol, "TLSv"), stream.NegotiatedCipherSuite.ToString());
    }
}
