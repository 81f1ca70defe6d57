using System.Buffers;
using System.Net;
using EarlyPipeProxy.Protocol.Capabilities;
using EarlyPipeProxy.Protocol.ClientIdentity;
using EarlyPipeProxy.Protocol.Commands;
using EarlyPipeProxy.Protocol.Replies;
using EarlyPipeProxy.Sessions.Configuration;
using EarlyPipeProxy.Sessions.Downstream;
using EarlyPipeProxy.Sessions.Lifetime;
using EarlyPipeProxy.Sessions.Telemetry;
using EarlyPipeProxy.Sessions.Upstream;

namespace EarlyPipeProxy.Sessions.Inbound;

/// <summary>
/// Inbound policy, first part: the backend connection up to its banner. Connect; introduce the real client (a PROXY
/// header first, XCLIENT after the greeting, or in transparent mode the connection's own source address); STARTTLS
/// toward the backend when configured, before anything of the client's; and wait for the backend's final greeting
/// line, which nothing of the client's may precede.
/// </summary>
internal sealed class BackendOpening
{
    private readonly InboundListenerSettings _listener;
    private readonly InboundListenerOptions _options;
    private readonly IPEndPoint _client;
    private readonly IPEndPoint _local;
    private readonly SessionDeadline _deadline;
    private readonly SessionRecord _record;

    // XCLIENT's NAME= and REVERSE_NAME=: looked up while the backend connection is made.
    private readonly Task<ClientHostNames>? _clientNames;

    public BackendOpening(InboundListenerSettings listener, IPEndPoint client, IPEndPoint local, SessionDeadline deadline, SessionRecord record)
    {
        _listener = listener;
        _options = listener.Options;
        _client = client;
        _local = local;
        _deadline = deadline;
        _record = record;
        if (_options.Backend.ClientIdentity == ClientIdentityMode.Xclient)
        {
            _clientNames = _options.Backend.LookupClientName
                ? listener.ClientNames.ResolveAsync(client.Address, _options.Timeouts.ClientNameLookup, deadline.Aborted)
                : Task.FromResult(ClientHostNames.None);
        }
    }

    /// <summary>
    /// Connects (from the client's own address and port in transparent mode), and sends the PROXY header when that is
    /// how the client is introduced.
    /// </summary>
    public async ValueTask<UpstreamChannel> ConnectAsync(IUpstreamConnector connector, ProxyTlsInfo? clientTls)
    {
        var transparent = _options.Backend.ClientIdentity == ClientIdentityMode.Transparent;
        UpstreamChannel backend;
        try
        {
            backend = await UpstreamChannel.ConnectAsync(connector, _listener.BackendEndPoint, source: null, fastOpen: false, firstFlight: default,
                _deadline, _options.Timeouts, _options.Limits, _record, countsRoundTrips: false, transparentSource: transparent ? _client : null);
        }
        catch (UpstreamUnavailableException ex) when (transparent && ex.Failure == UpstreamFailure.Unreachable && ex.InnerException is { } cause && _deadline.IsTimeout(cause))
        {
            // The health probe connects from the proxy's own address and sees nothing wrong: the likely cause is that
            // the backend's answers to client addresses do not come back through this host.
            throw new UpstreamUnavailableException(UpstreamFailure.Unreachable,
                ex.Message + " (transparent: the backend's route to the client must lead through the proxy, README \"Transparent mode\")", ex);
        }

        switch (_options.Backend.ClientIdentity)
        {
            case ClientIdentityMode.ProxyV1:
                ProxyProtocolHeader.WriteV1(backend.Output, _client, _local);
                await backend.FlushAsync();
                break;
            case ClientIdentityMode.ProxyV2:
                // Only TLS-on-connect is known this early; a later STARTTLS cannot be told in a header already sent.
                ProxyProtocolHeader.WriteV2(backend.Output, _client, _local, clientTls);
                await backend.FlushAsync();
                break;
        }

        return backend;
    }

    /// <summary>
    /// Waits for the backend's final greeting, secures the connection and introduces the client. Returns the banner
    /// to give the client; null when the backend refused (its refusal is then the client's answer, and the session ends).
    /// </summary>
    public async ValueTask<byte[]?> GreetAsync(UpstreamChannel backend, DownstreamChannel client)
    {
        var banner = await backend.ReadReplyAsync(_options.Timeouts.Banner);
        if (banner.Code != ReplyCode.ServiceReady)
        {
            // The backend refuses us (554, 421): its words go to the client, who learns nothing else.
            var code = banner.Code;
            client.Write(banner.Raw);
            backend.ReleaseReply();
            await client.FlushAsync();
            _record.Ended(SessionEnd.UpstreamGreeting, code.ToString(System.Globalization.CultureInfo.InvariantCulture));
            return null;
        }

        var bannerBytes = banner.Raw.ToArray();
        backend.ReleaseReply();

        // TLS first, so that XCLIENT and everything after it travel encrypted.
        if (_options.Backend.Tls == BackendTlsMode.StartTls)
        {
            await StartTlsAsync(backend);
        }

        if (_options.Backend.ClientIdentity == ClientIdentityMode.Xclient)
        {
            await IntroduceClientAsync(backend);
        }

        return bannerBytes;
    }

    /// <summary>
    /// EHLO as the proxy, then XCLIENT with what the backend's restrictions use of the client, as far as its EHLO
    /// offers the attributes; the backend greets again with 220 after each XCLIENT (one, or two for long names). In
    /// cleartext, with the offer a recent session read (<see cref="XclientOfferMemory"/>), XCLIENT goes right after the
    /// banner instead; a refusal of it (other than 421) sends the session the long way, EHLO first, and every later
    /// session of these settings too.
    /// </summary>
    private async ValueTask IntroduceClientAsync(UpstreamChannel backend)
    {
        var memory = _listener.XclientOffer;
        if (_options.Backend.Tls == BackendTlsMode.None && memory.TryGet(out var remembered))
        {
            var client = new ProxiedClient(_client, _local, await _clientNames!);
            var (code, text) = await XclientAsync(backend, client, XclientCommand.ParseOffer(remembered));
            if (code == ReplyCode.ServiceReady)
            {
                return;
            }

            memory.Forget();
            if (code == ReplyCode.ServiceNotAvailable)
            {
                throw new UpstreamUnavailableException(UpstreamFailure.MalformedReply, $"backend refused XCLIENT: {code} {text}");
            }
        }

        var offer = await EhloOfferAsync(backend, SmtpKeywords.Xclient)
            ?? throw new UpstreamUnavailableException(UpstreamFailure.MalformedReply,
                "backend does not offer XCLIENT to the proxy (Postfix: add the proxy to smtpd_authorized_xclient_hosts)");
        var offered = XclientCommand.ParseOffer(offer);
        if ((offered & XclientAttributes.Addr) == 0)
        {
            throw new UpstreamUnavailableException(UpstreamFailure.MalformedReply, $"backend's XCLIENT does not take ADDR (it offers \"{offer}\")");
        }

        var (greetingCode, refusal) = await XclientAsync(backend, new ProxiedClient(_client, _local, await _clientNames!), offered);
        if (greetingCode != ReplyCode.ServiceReady)
        {
            throw new UpstreamUnavailableException(UpstreamFailure.MalformedReply, $"backend refused XCLIENT: {greetingCode} {refusal}");
        }

        memory.Remember(offer);
    }

    /// <summary>The XCLIENT commands, each answered before the next; 220 when all were, else the first other code and its text.</summary>
    private async ValueTask<(int Code, string? Text)> XclientAsync(UpstreamChannel backend, ProxiedClient client, XclientAttributes offered)
    {
        foreach (var line in XclientCommand.Build(client, offered))
        {
            backend.Write(line);
            await backend.FlushAsync();
            var greeting = await backend.ReadReplyAsync(_options.Timeouts.BackendReply);
            var code = greeting.Code;
            var text = code == ReplyCode.ServiceReady ? null : greeting.FinalLineText();
            backend.ReleaseReply();
            if (code != ReplyCode.ServiceReady)
            {
                return (code, text);
            }
        }

        return (ReplyCode.ServiceReady, null);
    }

    /// <summary>
    /// STARTTLS toward the backend: our EHLO, STARTTLS, its 220, the handshake (certificate checked against
    /// <see cref="BackendOptions.TlsServerName"/> unless turned off).
    /// </summary>
    private async ValueTask StartTlsAsync(UpstreamChannel backend)
    {
        if (!await OffersAsync(backend, SmtpKeywords.StartTls))
        {
            throw new UpstreamUnavailableException(UpstreamFailure.MalformedReply, "backend does not offer STARTTLS (Backend:Tls is StartTls)");
        }

        SmtpCommandWriter.WriteStartTls(backend.Output);
        await backend.FlushAsync();
        var goAhead = await backend.ReadReplyAsync(_options.Timeouts.BackendReply);
        var code = goAhead.Code;
        backend.ReleaseReply();
        if (code != ReplyCode.ServiceReady)
        {
            throw new UpstreamUnavailableException(UpstreamFailure.MalformedReply, $"backend refused STARTTLS with {code}");
        }

        await backend.UpgradeToTlsAsync(Tls.TlsClientOptions.Create(
            _options.Backend.TlsServerName ?? _listener.BackendHostName, _options.Backend.VerifyCertificate, _listener.BackendTrustAnchors));
    }

    /// <summary>Our own EHLO to the backend, before XCLIENT or STARTTLS: does its reply offer <paramref name="keyword"/>?</summary>
    private async ValueTask<bool> OffersAsync(UpstreamChannel backend, string keyword) => await EhloOfferAsync(backend, keyword) is not null;

    /// <summary>Our own EHLO to the backend: the parameters of <paramref name="keyword"/> in its reply ("" for none), null when not offered.</summary>
    private async ValueTask<string?> EhloOfferAsync(UpstreamChannel backend, string keyword)
    {
        SmtpCommandWriter.WriteEhlo(backend.Output, _options.HostName);
        await backend.FlushAsync();
        var ehlo = await backend.ReadReplyAsync(_options.Timeouts.BackendReply);
        var parameters = ehlo.Code == ReplyCode.Ok && EhloCapabilities.TryParse(ehlo.Raw, out var capabilities) ? capabilities!.GetParameters(keyword) : null;
        backend.ReleaseReply();
        return parameters;
    }
}
