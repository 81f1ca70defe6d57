using System.Buffers;
using EarlyPipeProxy.Protocol.Capabilities;
using EarlyPipeProxy.Protocol.ClientIdentity;
using EarlyPipeProxy.Sessions.Backend;
using EarlyPipeProxy.Sessions.Configuration;

namespace EarlyPipeProxy.Sessions.Inbound;

// Opening: the backend connection, the client's identity, its greeting, and the early-input decision.
public sealed partial class InboundSession
{
    private async ValueTask<bool> OpenBackendAsync()
    {
        if (_options.Backend.ClientIdentity == ClientIdentityMode.Xclient)
        {
            _clientName = _options.Backend.LookupClientName
                ? ClientNameResolver.ResolveAsync(_clientEndPoint.Address, _options.Timeouts.ClientNameLookup, _aborted)
                : Task.FromResult(ClientNameResolver.Unavailable);
        }

        try
        {
            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            _backend = await _connector.ConnectAsync(_listener.BackendEndPoint, Deadline(_options.Timeouts.BackendConnect));
            _metrics?.UpstreamConnected(_listener.Name, Telemetry.Direction.Inbound, System.Diagnostics.Stopwatch.GetElapsedTime(started));
        }
        catch (OperationCanceledException) when (!_aborted.IsCancellationRequested)
        {
            throw new BackendUnavailableException(BackendFailure.Timeout, $"no connection to {_listener.BackendEndPoint} within {_options.Timeouts.BackendConnect}");
        }
        finally
        {
            ClearDeadline();
        }

        switch (_options.Backend.ClientIdentity)
        {
            case ClientIdentityMode.ProxyV1:
                ProxyProtocolHeader.WriteV1(_backend.Output, _clientEndPoint, _localEndPoint);
                await FlushBackendAsync();
                break;
            case ClientIdentityMode.ProxyV2:
                // Only TLS-on-connect is known this early; a later STARTTLS cannot be told in a header already sent.
                ProxyProtocolHeader.WriteV2(_backend.Output, _clientEndPoint, _localEndPoint, ProxyTlsInfoOrNull());
                await FlushBackendAsync();
                break;
        }

        return true;
    }

    /// <summary>
    /// Waits for the backend's final greeting line, introduces the client by XCLIENT if configured, decides about
    /// input that came before the banner, and relays the banner. False when the session ends here.
    /// </summary>
    private async ValueTask<bool> GreetAsync()
    {
        var backend = _backend!;
        var banner = await ReadBackendReplyAsync(_options.Timeouts.Banner);
        if (banner.Code != 220)
        {
            // The backend refuses us (554, 421): its words go to the client, who learns nothing else.
            WriteToClient(banner.Raw);
            backend.ReleaseReply();
            await FlushClientAsync();
            _end = "backend greeting " + banner.Code.ToString(System.Globalization.CultureInfo.InvariantCulture);
            return false;
        }

        var bannerBytes = banner.Raw.ToArray();
        backend.ReleaseReply();

        // TLS first, so that XCLIENT and everything after it travel encrypted.
        if (_options.Backend.Tls == BackendTlsMode.StartTls)
        {
            await StartBackendTlsAsync();
        }

        if (_options.Backend.ClientIdentity == ClientIdentityMode.Xclient)
        {
            await IntroduceClientAsync();
        }

        // Exim's check, made immediately before the banner is written: is there input already?
        if (_client.Input.TryRead(out var early))
        {
            var buffer = early.Buffer;
            _client.Input.AdvanceTo(buffer.Start);
            if (buffer.IsEmpty && early.IsCompleted)
            {
                _end = "client closed before greeting";
                return false;
            }

            // Empty and not completed: a graceful-close request woke the reader. No early input; the command loop
            // answers the close request after the banner.
            if (!buffer.IsEmpty && !_advertise)
            {
                LogEarlyInputRefused(_logger, _clientEndPoint.Address, _clientEndPoint.Port, _listener.Name, Printable(buffer, 128));
                _metrics?.EarlyInput(_listener.Name, accepted: false);
                await TryWriteFinalAsync(ProxyReplies.SynchronizationError);
                _end = "synchronization error (input before greeting)";
                return false;
            }

            if (!buffer.IsEmpty)
            {
                _early = EarlyPipeUse.Used;
                _metrics?.EarlyInput(_listener.Name, accepted: true);
            }
        }

        WriteToClient(bannerBytes);
        return true;
    }

    /// <summary>EHLO as the proxy, then XCLIENT with the client's address; the backend greets again with 220.</summary>
    private async ValueTask IntroduceClientAsync()
    {
        var backend = _backend!;
        if (!await BackendOffersAsync(SmtpKeywords.Xclient))
        {
            throw new BackendUnavailableException(BackendFailure.MalformedReply,
                "backend does not offer XCLIENT to the proxy (Postfix: add the proxy to smtpd_authorized_xclient_hosts)");
        }

        XclientCommand.Write(backend.Output, _clientEndPoint, await _clientName!, helo: null);
        await FlushBackendAsync();
        var greeting = await ReadBackendReplyAsync(_options.Timeouts.BackendReply);
        var code = greeting.Code;
        var text = code == 220 ? null : greeting.FinalLineText();
        backend.ReleaseReply();
        if (code != 220)
        {
            throw new BackendUnavailableException(BackendFailure.MalformedReply, $"backend refused XCLIENT: {code} {text}");
        }
    }

    /// <summary>Our own EHLO to the backend, before XCLIENT or STARTTLS: does its reply offer <paramref name="keyword"/>?</summary>
    private async ValueTask<bool> BackendOffersAsync(string keyword)
    {
        var backend = _backend!;
        WriteAscii(backend.Output, "EHLO " + _options.HostName + "\r\n");
        await FlushBackendAsync();
        var ehlo = await ReadBackendReplyAsync(_options.Timeouts.BackendReply);
        var offers = ehlo.Code == 250 && EhloCapabilities.TryParse(ehlo.Raw, out var capabilities) && capabilities!.Contains(keyword);
        backend.ReleaseReply();
        return offers;
    }
}
