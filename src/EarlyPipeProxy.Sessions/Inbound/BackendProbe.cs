using System.Buffers;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using EarlyPipeProxy.Protocol.Capabilities;
using EarlyPipeProxy.Protocol.ClientIdentity;
using EarlyPipeProxy.Protocol.Commands;
using EarlyPipeProxy.Protocol.Replies;
using EarlyPipeProxy.Sessions.Configuration;
using EarlyPipeProxy.Sessions.Logging;
using EarlyPipeProxy.Sessions.Upstream;

namespace EarlyPipeProxy.Sessions.Inbound;

/// <summary>
/// The health probe of an inbound listener's backend: what every session does before its client's first command
/// (<see cref="BackendOpening"/>), with the proxy itself as the client. Connect; the PROXY header when that is how
/// clients are introduced; the banner; STARTTLS when Backend:Tls says so; EHLO; XCLIENT when that is how clients are
/// introduced, expecting the backend's new 220; QUIT. A backend that greets but refuses the proxy's XCLIENT (Postfix
/// without the proxy in smtpd_authorized_xclient_hosts), or reads a PROXY header as commands, answers every session
/// with 421: it is down, and the backend's own words say why.
/// </summary>
/// <remarks>
/// In transparent mode the probe connects from the proxy's own address (it has no client whose address it could
/// take), with IP_TRANSPARENT set as on a session's connection: a proxy the kernel refuses it (no CAP_NET_ADMIN) is
/// down, as every session would fail. Whether the backend's answers to client addresses come back through the proxy
/// only a session can tell.
/// The probe introduces the proxy as itself: ADDR and PORT are the probe connection's own source, NAME and
/// REVERSE_NAME [UNAVAILABLE], DESTADDR/DESTPORT the listener's address. Nothing but QUIT follows, so whatever the
/// backend's restrictions make of that client is never put to use.
/// </remarks>
public sealed class BackendProbe
{
    private const int MaxReplyLine = 4096;

    /// <summary>Enough of a reply's text to recognise it; a backend's reply is quoted, never trusted to be short.</summary>
    private const int MaxQuotedReply = 200;

    private readonly InboundListener _listener;
    private readonly BackendOptions _backend;

    // What the probe waits for now: a timeout says what never came.
    private string _awaiting = "connection";

    private BackendProbe(InboundListener listener)
    {
        _listener = listener;
        _backend = listener.Options.Backend;
    }

    /// <summary>
    /// Probes <paramref name="listener"/>'s backend within <paramref name="timeout"/>. Throws only
    /// OperationCanceledException, when <paramref name="cancellationToken"/> is cancelled; every failure of the
    /// backend is a verdict.
    /// </summary>
    public static async Task<ProbeVerdict> ProbeAsync(IUpstreamConnector connector, InboundListener listener, TimeSpan timeout, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(connector);
        ArgumentNullException.ThrowIfNull(listener);
        var probe = new BackendProbe(listener);
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(timeout);
        try
        {
            return await probe.RunAsync(connector, limit.Token);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested
            && (ex is OperationCanceledException || (ex is UpstreamUnavailableException { Failure: UpstreamFailure.Unreachable } && limit.IsCancellationRequested)))
        {
            return ProbeVerdict.Down($"no {probe._awaiting} within {Seconds(timeout)}{probe.ContextHint()}");
        }
        catch (UpstreamUnavailableException ex)
        {
            return ProbeVerdict.Down(ex.Message + probe.ContextHint());
        }
        catch (Exception ex) when (ex is IOException or SocketException)
        {
            return ProbeVerdict.Down($"connection lost awaiting the {probe._awaiting}: {ex.Message}{probe.ContextHint()}");
        }
    }

    private async Task<ProbeVerdict> RunAsync(IUpstreamConnector connector, CancellationToken cancellationToken)
    {
        var connection = _backend.ClientIdentity == ClientIdentityMode.Transparent
            ? await connector.ConnectTransparentAsync(_listener.BackendEndPoint, source: null, cancellationToken)
            : await connector.ConnectAsync(_listener.BackendEndPoint, cancellationToken);
        await using (connection)
        {
            var verdict = await ConverseAsync(connection, cancellationToken);
            await QuitAsync(connection, cancellationToken);
            return verdict;
        }
    }

    /// <summary>
    /// QUIT, and its 221 awaited, whatever the verdict: the backend logs a client that said goodbye rather than a lost
    /// connection, and a TLS connection is not cut while the backend still writes its 221 (Postfix: "quit=0/1").
    /// </summary>
    private async ValueTask QuitAsync(UpstreamConnection connection, CancellationToken cancellationToken)
    {
        _awaiting = "reply to QUIT";
        try
        {
            SmtpCommandWriter.WriteQuit(connection.Output);
            await connection.FlushAsync(cancellationToken);
            await connection.ReadReplyAsync(MaxReplyLine, cancellationToken);
            connection.ReleaseReply();
        }
        catch (Exception ex) when (ex is UpstreamUnavailableException or IOException or SocketException or OperationCanceledException)
        {
            // The verdict is made; a backend that hangs up first (after refusing us, say) changes nothing.
        }
    }

    private async Task<ProbeVerdict> ConverseAsync(UpstreamConnection connection, CancellationToken cancellationToken)
    {
        var (source, destination) = ProbeIdentity(connection);
        var seen = new List<string>(4);
        switch (_backend.ClientIdentity)
        {
            case ClientIdentityMode.ProxyV1:
                ProxyProtocolHeader.WriteV1(connection.Output, source, destination);
                await connection.FlushAsync(cancellationToken);
                break;
            case ClientIdentityMode.ProxyV2:
                ProxyProtocolHeader.WriteV2(connection.Output, source, destination);
                await connection.FlushAsync(cancellationToken);
                break;
        }

        _awaiting = "banner";
        var (bannerCode, banner) = await ReadAsync(connection, cancellationToken);
        if (bannerCode != ReplyCode.ServiceReady)
        {
            return ProbeVerdict.Down($"banner: {banner}{HeaderHint()}");
        }

        seen.Add("banner 220");
        if (_backend.Tls == BackendTlsMode.StartTls)
        {
            var (code, reply, capabilities) = await EhloAsync(connection, cancellationToken);
            if (code != ReplyCode.Ok)
            {
                return ProbeVerdict.Down($"EHLO refused: {reply}{HeaderHint()}");
            }

            if (capabilities?.Contains(SmtpKeywords.StartTls) != true)
            {
                return ProbeVerdict.Down("backend does not offer STARTTLS (Backend:Tls is StartTls)");
            }

            _awaiting = "reply to STARTTLS";
            SmtpCommandWriter.WriteStartTls(connection.Output);
            await connection.FlushAsync(cancellationToken);
            var (goAhead, goAheadText) = await ReadAsync(connection, cancellationToken);
            if (goAhead != ReplyCode.ServiceReady)
            {
                return ProbeVerdict.Down($"STARTTLS refused: {goAheadText}");
            }

            _awaiting = "TLS handshake";
            await connection.UpgradeToTlsAsync(Tls.TlsClientOptions.Create(
                _backend.TlsServerName ?? _listener.BackendHostName, _backend.VerifyCertificate, _listener.BackendTrustAnchors), cancellationToken);
            seen.Add("STARTTLS " + Tls.TlsDescription.Describe(connection.TlsStream!));
        }

        var (ehloCode, ehlo, offered) = await EhloAsync(connection, cancellationToken);
        if (ehloCode != ReplyCode.Ok)
        {
            return ProbeVerdict.Down($"EHLO refused: {ehlo}{HeaderHint()}");
        }

        seen.Add("EHLO 250");
        if (_backend.ClientIdentity == ClientIdentityMode.Xclient)
        {
            var refusal = await IntroduceAsync(connection, offered, source, destination, cancellationToken);
            if (refusal is not null)
            {
                return ProbeVerdict.Down(refusal);
            }

            seen.Add("XCLIENT 220");
        }
        else if (_backend.ClientIdentity is ClientIdentityMode.ProxyV1 or ClientIdentityMode.ProxyV2)
        {
            seen.Insert(0, (_backend.ClientIdentity == ClientIdentityMode.ProxyV1 ? "PROXY v1" : "PROXY v2") + " header taken");
        }
        else if (_backend.ClientIdentity == ClientIdentityMode.Transparent)
        {
            seen.Insert(0, "IP_TRANSPARENT allowed");
        }

        return ProbeVerdict.Up(string.Join(", ", seen));
    }

    /// <summary>
    /// XCLIENT with the probe's own identity; null when the backend greets again with 220, else why not. Sent even when
    /// the EHLO reply does not offer it, so that the reason is the backend's own refusal rather than a guess.
    /// </summary>
    private async ValueTask<string?> IntroduceAsync(
        UpstreamConnection connection, EhloCapabilities? capabilities, IPEndPoint source, IPEndPoint destination, CancellationToken cancellationToken)
    {
        var offer = capabilities?.GetParameters(SmtpKeywords.Xclient);
        var attributes = offer is null ? XclientAttributes.Addr | XclientAttributes.Name : XclientCommand.ParseOffer(offer);
        if (offer is not null && (attributes & XclientAttributes.Addr) == 0)
        {
            return $"backend's XCLIENT does not take ADDR (it offers \"{Printable.Of(offer)}\")";
        }

        _awaiting = "reply to XCLIENT";
        foreach (var line in XclientCommand.Build(new ProxiedClient(source, destination, ClientHostNames.None), attributes))
        {
            connection.Output.Write(line);
            await connection.FlushAsync(cancellationToken);
            var (code, reply) = await ReadAsync(connection, cancellationToken);
            if (code != ReplyCode.ServiceReady)
            {
                return offer is null
                    ? $"XCLIENT refused: {reply} (the backend does not offer XCLIENT to the proxy; Postfix: add the proxy's address to smtpd_authorized_xclient_hosts)"
                    : $"XCLIENT refused: {reply}";
            }
        }

        // Sessions go by the offer and would give up here (BackendOpening), however willing the backend turned out.
        return offer is null ? "backend accepted XCLIENT but does not offer it in its EHLO reply, which the proxy's sessions go by" : null;
    }

    /// <summary>The proxy's EHLO, as sessions send it: the reply's code and quoted text, and its keywords when it is a 250.</summary>
    private async ValueTask<(int Code, string Reply, EhloCapabilities? Capabilities)> EhloAsync(UpstreamConnection connection, CancellationToken cancellationToken)
    {
        _awaiting = "reply to EHLO";
        SmtpCommandWriter.WriteEhlo(connection.Output, _listener.Options.HostName);
        await connection.FlushAsync(cancellationToken);
        var reply = await connection.ReadReplyAsync(MaxReplyLine, cancellationToken);
        try
        {
            var code = reply.Code;
            var capabilities = code == ReplyCode.Ok && EhloCapabilities.TryParse(reply.Raw, out var parsed) ? parsed : null;
            return (code, Quote(reply), capabilities);
        }
        finally
        {
            connection.ReleaseReply();
        }
    }

    private static async ValueTask<(int Code, string Reply)> ReadAsync(UpstreamConnection connection, CancellationToken cancellationToken)
    {
        var reply = await connection.ReadReplyAsync(MaxReplyLine, cancellationToken);
        try
        {
            return (reply.Code, Quote(reply));
        }
        finally
        {
            connection.ReleaseReply();
        }
    }

    /// <summary>"550 5.7.0 Error: insufficient authorization": the final line, escaped and bounded.</summary>
    private static string Quote(SmtpReply reply)
    {
        var text = Printable.Of(reply.Code.ToString(CultureInfo.InvariantCulture) + " " + reply.FinalLineText());
        return text.Length <= MaxQuotedReply ? text : text[..MaxQuotedReply] + "...";
    }

    /// <summary>
    /// Who the probe says it is: its own connection's source (loopback where the transport knows none) and, as where it
    /// connected, the listener's address, or that source address with the listener's port when the listener is on a
    /// wildcard address.
    /// </summary>
    private (IPEndPoint Source, IPEndPoint Destination) ProbeIdentity(UpstreamConnection connection)
    {
        var backend = _listener.BackendEndPoint;
        var source = connection.LocalEndPoint as IPEndPoint
            ?? new IPEndPoint(backend.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Loopback : IPAddress.Loopback, 0);
        var listen = _listener.ListenEndPoint;
        var destination = listen.Address.Equals(IPAddress.Any) || listen.Address.Equals(IPAddress.IPv6Any)
            ? new IPEndPoint(source.Address, listen.Port)
            : listen;
        return (source, destination);
    }

    private bool SendsProxyHeader => _backend.ClientIdentity is ClientIdentityMode.ProxyV1 or ClientIdentityMode.ProxyV2;

    /// <summary>A refusal right after a PROXY header is most likely the header itself, read as a command.</summary>
    private string HeaderHint() => SendsProxyHeader
        ? $" (after the {(_backend.ClientIdentity == ClientIdentityMode.ProxyV1 ? "PROXY v1" : "PROXY v2")} header: does the backend expect one? Postfix: smtpd_upstream_proxy_protocol = haproxy)"
        : string.Empty;

    /// <summary>
    /// What a failure before the first EHLO reply most likely means: with a PROXY header sent, a backend that expects
    /// none (it read the header as commands, or dropped the connection over them); without, a backend that waits for
    /// a header and says nothing until one comes (Postfix: smtpd_upstream_proxy_timeout).
    /// </summary>
    private string ContextHint() => _awaiting switch
    {
        "banner" or "reply to EHLO" when SendsProxyHeader => HeaderHint(),
        "banner" => $" (a backend that expects a PROXY header waits for one; Backend:ClientIdentity is {_backend.ClientIdentity})",
        _ => string.Empty,
    };

    private static string Seconds(TimeSpan timeout) => timeout.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture) + "s";
}
