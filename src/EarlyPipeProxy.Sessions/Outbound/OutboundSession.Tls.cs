using EarlyPipeProxy.Protocol.Capabilities;
using EarlyPipeProxy.Sessions.Backend;
using EarlyPipeProxy.Sessions.Configuration;
using EarlyPipeProxy.Sessions.EhloCache;

namespace EarlyPipeProxy.Sessions.Outbound;

// STARTTLS toward the remote (RFC 3207), per the listener's policy: None, Opportunistic (when offered; a failed
// handshake falls back to cleartext on a new connection, as Exim's tls_tempfail_tryclear), Required (no TLS, no mail).
public sealed partial class OutboundSession
{
    private static ReadOnlySpan<byte> StartTlsCommand => "STARTTLS\r\n"u8;

    private bool _tlsActive;
    private bool _tlsGaveUp;
    private string _tlsField = string.Empty;

    private bool TlsWanted => _options.Tls.Mode != OutboundTlsMode.None && !_tlsGaveUp;

    /// <summary>
    /// EHLO to the connected remote and, when policy and offer agree, STARTTLS and EHLO again. Returns the reply the
    /// session goes on with. A Required policy the remote cannot meet leaves a refusal in <see cref="_remoteRefusal"/>.
    /// </summary>
    private async ValueTask<RemoteReply> GreetAndSecureAsync()
    {
        var reply = await GreetRemoteAsync();
        if (reply.Code != 250 || _tlsActive || !TlsWanted)
        {
            return reply;
        }

        if (!_remoteCapabilities!.Contains(SmtpKeywords.StartTls))
        {
            if (_options.Tls.Mode == OutboundTlsMode.Required)
            {
                _remoteRefusal = OutboundReplies.TlsNotOffered.ToArray();
            }

            return reply;
        }

        WriteToRemote(StartTlsCommand);
        await FlushRemoteAsync();
        var goAhead = await ReadRemoteReplyAsync(_options.Timeouts.BackendReply);
        if (goAhead.Code != 220)
        {
            // RFC 3207 §4: after a refused STARTTLS the session goes on as it was; only a Required policy stops here.
            if (_options.Tls.Mode == OutboundTlsMode.Required)
            {
                _remoteRefusal = AsRefusal(goAhead);
            }

            return reply;
        }

        if (!await TryHandshakeAsync(_remote!))
        {
            // Opportunistic and the handshake failed: start over in cleartext on a new connection.
            await _remote!.AbortAsync();
            _remote = null;
            return await ConnectLockstepAsync();
        }

        return await GreetRemoteAsync();
    }

    /// <summary>
    /// The handshake over a connection whose 220 to STARTTLS was read. True when TLS is up (the cache key moves to the
    /// post-TLS phase); false when it failed under an Opportunistic policy; throws under a Required one.
    /// </summary>
    private async ValueTask<bool> TryHandshakeAsync(BackendConnection connection)
    {
        var options = Tls.TlsClientOptions.Create(TlsServerName(), _options.Tls.VerifyCertificate, _listener.TrustAnchors);
        try
        {
            await connection.UpgradeToTlsAsync(options, Deadline(_options.Timeouts.TlsHandshake));
        }
        catch (Exception ex) when (ex is BackendUnavailableException or OperationCanceledException && !_aborted.IsCancellationRequested)
        {
            var reason = ex is BackendUnavailableException ? ex.Message : "TLS handshake timed out";
            LogRemoteTlsFailed(_logger, _remoteEndPoint, _senderEndPoint.Address, _senderEndPoint.Port, _listener.Name, reason);
            if (_options.Tls.Mode == OutboundTlsMode.Required)
            {
                throw new BackendUnavailableException(BackendFailure.TlsFailed, reason, ex);
            }

            _tlsGaveUp = true;
            return false;
        }
        finally
        {
            ClearDeadline();
        }

        _tlsActive = true;
        _tlsField = " X=" + Tls.TlsDescription.Describe(connection.TlsStream!) + (connection.TlsResumed ? "*" : string.Empty);
        _metrics?.TlsHandshake(_listener.Name, Telemetry.Direction.Outbound, "upstream", connection.TlsResumed);
        _key = new EhloCacheKey(_key.LocalAddress, _key.RemoteAddress, _key.RemotePort, TlsPhase.AfterStartTls);
        _learnt = false;
        return true;
    }

    /// <summary>
    /// The name sent as SNI, checked against the certificate when verifying, and the key under which the TLS session
    /// is kept for resumption: the configured one, else the upstream's host name. An address is no name for SNI (RFC
    /// 6066 §3) and .NET keeps no session for it, so without verification the server's own name from its EHLO
    /// greeting serves: the next connection to the same remote resumes its session.
    /// </summary>
    private string TlsServerName()
    {
        if (_options.Tls.ServerName is { } configured)
        {
            return configured;
        }

        if (_listener.UpstreamHostName is { } host && !System.Net.IPAddress.TryParse(host, out _))
        {
            return host;
        }

        var greeting = _remoteCapabilities?.Greeting.Split(' ', 2)[0];
        return !_options.Tls.VerifyCertificate && Uri.CheckHostName(greeting) == UriHostNameType.Dns
            ? greeting!
            : _remoteEndPoint.Address.ToString();
    }

    /// <summary>
    /// The capabilities the sender is answered with from the cache: the post-TLS reply when TLS will be used and it is
    /// cached (that is what will be in force), the cleartext one otherwise. Null when there is no usable entry.
    /// </summary>
    private EhloCapabilities? CachedCapabilities()
    {
        if (!_options.EarlyPipelining || !_cache.TryGetFresh(_key, out var cleartext))
        {
            return null;
        }

        _cachedCleartext = cleartext.CreateCapabilities();
        if (!TlsWanted || !_cachedCleartext.Contains(SmtpKeywords.StartTls))
        {
            return _cachedCleartext;
        }

        // Exim's rule (C4): early pipelining after STARTTLS only when it was early before it too.
        var afterTls = new EhloCacheKey(_key.LocalAddress, _key.RemoteAddress, _key.RemotePort, TlsPhase.AfterStartTls);
        if (_cache.TryGetFresh(afterTls, out var secured))
        {
            _cachedAfterTls = secured.CreateCapabilities();
            return _cachedAfterTls;
        }

        return _cachedCleartext;
    }

    /// <summary>
    /// STARTTLS from the sender (RFC 3207), when the listener has a certificate. Input sent after the command, before
    /// our go-ahead could have been seen, is dropped, never executed after the handshake (CVE-2011-0411); the sender
    /// then starts over with EHLO. The remote's side is unaffected: it has its own TLS per policy.
    /// </summary>
    private async ValueTask SenderStartTlsAsync()
    {
        if (_listener.SenderCertificates is not { } certificates)
        {
            await LocalReplyAsync(Inbound.ProxyReplies.StartTlsUnavailable);
            return;
        }

        if (_senderTls is not null)
        {
            await LocalReplyAsync(Inbound.ProxyReplies.TlsAlreadyActive);
            return;
        }

        if (_inTransaction)
        {
            await LocalReplyAsync(Inbound.ProxyReplies.TransactionInProgress);
            return;
        }

        await DrainAsync(includeAcknowledged: true);
        if (_sender.Input.TryRead(out var leftover))
        {
            _sender.Input.AdvanceTo(leftover.Buffer.End);
        }

        WriteToSender(Inbound.ProxyReplies.StartTlsGoAhead);
        await FlushSenderAsync();
        try
        {
            (_senderTls, _) = await Tls.ServerTlsHandshake.RunAsync(_sender, certificates, Deadline(_options.Timeouts.TlsHandshake));
        }
        catch (Exception ex) when (ex is System.Security.Authentication.AuthenticationException or IOException
            or OperationCanceledException && !_aborted.IsCancellationRequested)
        {
            _end = "sender TLS handshake failed: " + ex.Message;
            _sessionOver = true;
            return;
        }
        finally
        {
            ClearDeadline();
        }

        _sender = _senderTls;
        _greeted = false;
        ForgetUnsentMail();
        EndTransaction();
    }

    private Tls.TlsDuplexPipe? _senderTls;

    private EhloCapabilities? _cachedCleartext;
    private EhloCapabilities? _cachedAfterTls;
}
