using System.Net;
using System.Net.Sockets;
using EarlyPipeProxy.Protocol.Capabilities;
using EarlyPipeProxy.Protocol.Commands;
using EarlyPipeProxy.Protocol.Replies;
using EarlyPipeProxy.Sessions.Configuration;
using EarlyPipeProxy.Sessions.EhloCache;
using EarlyPipeProxy.Sessions.Lifetime;
using EarlyPipeProxy.Sessions.Logging;
using EarlyPipeProxy.Sessions.Outbound.Warm;
using EarlyPipeProxy.Sessions.Telemetry;
using EarlyPipeProxy.Sessions.Upstream;
using EhloCacheStore = EarlyPipeProxy.Sessions.EhloCache.EhloCache;

namespace EarlyPipeProxy.Sessions.Outbound;

/// <summary>
/// Outbound policy: the session's link to the remote server. The connection when there is one; the capabilities in
/// force (from the cache until a live EHLO reply replaces them); the cache key of the TLS phase the session is in;
/// TLS toward the remote per the listener's policy (None; Opportunistic: STARTTLS when offered, a failed handshake falls
/// back to cleartext on a new connection, as Exim's tls_tempfail_tryclear; Required: no TLS, no mail; OnConnect: the
/// handshake first on every connection, its failure the sender's 421 4.7.5, never cleartext); learning the remote's
/// EHLO reply into the cache; and a refusal of the whole connection, which answers every later command.
/// </summary>
internal sealed class RemoteLink
{
    // The only greeting after which the remote will act on what we sent (RFC 5321 §4.2; the draft's banner check).
    private const int ReadyBannerCode = ReplyCode.ServiceReady;

    private readonly OutboundListenerSettings _listener;
    private readonly OutboundListenerOptions _options;
    private readonly IPEndPoint _endPoint;
    private readonly IUpstreamConnector _connector;
    private readonly EhloCacheStore _cache;
    private readonly SessionDeadline _deadline;
    private readonly SessionRecord _record;
    private readonly TimeProvider _time;
    private bool _learnt;
    private bool _tlsGaveUp;

    public RemoteLink(OutboundListenerSettings listener, IPEndPoint endPoint, IUpstreamConnector connector, EhloCacheStore cache,
        SessionDeadline deadline, SessionRecord record, TimeProvider? time = null)
    {
        _time = time ?? TimeProvider.System;
        _listener = listener;
        _options = listener.Options;
        _endPoint = endPoint;
        _connector = connector;
        _cache = cache;
        _deadline = deadline;
        _record = record;
        Key = new EhloCacheKey(listener.SourceAddress ?? RouteSource(endPoint), endPoint.Address, endPoint.Port, FirstPhase);
    }

    public EhloCacheStore Cache => _cache;

    public SessionDeadline Deadline => _deadline;

    /// <summary>When the connection was made (the connection cache's clock); a warm one keeps its first session's.</summary>
    public long ConnectedAt { get; private set; }

    /// <summary>
    /// Whether the connection began with an early flight the remote took (its log then says so for every message it
    /// carries, Exim's L*), carried over to the sessions that reuse it.
    /// </summary>
    public bool OpenedEarly { get; set; }

    /// <summary>Messages whose end of data went over the connection, counting those of earlier sessions on a warm one.</summary>
    public int Messages { get; set; }

    /// <summary>The sender was answered from a fresh EHLO cache entry: the first flight may go early.</summary>
    public bool FromCache { get; private set; }

    /// <summary>The connection; null until the session connects (the early flight, or lockstep).</summary>
    public UpstreamChannel? Channel { get; set; }

    /// <summary>The cache entry of the phase the session is in (cleartext, or after STARTTLS).</summary>
    public EhloCacheKey Key { get; private set; }

    /// <summary>The remote's capabilities: from the cache until a live EHLO reply replaces them.</summary>
    public EhloCapabilities? Capabilities { get; private set; }

    public bool Pipelining { get; private set; }

    public bool Chunking { get; private set; }

    /// <summary>BODY=BINARYMIME can reach the remote: it offers BINARYMIME and CHUNKING (RFC 3030 §3 needs both).</summary>
    public bool BinaryMime { get; private set; }

    public int BannerCode { get; set; }

    public bool TlsActive { get; private set; }

    /// <summary>Tls:Mode OnConnect: every connection is TLS from its first octet (port 465 style), so there is no cleartext phase.</summary>
    public bool OnConnect => _options.Tls.Mode == OutboundTlsMode.OnConnect;

    /// <summary>The phase a new connection starts in, and so the cache entry its first EHLO reply is learnt into.</summary>
    private TlsPhase FirstPhase => OnConnect ? TlsPhase.TlsOnConnect : TlsPhase.Cleartext;

    public bool TlsWanted => _options.Tls.Mode != OutboundTlsMode.None && !_tlsGaveUp;

    /// <summary>
    /// TLS was expected and did not come: the remote refused STARTTLS or the handshake failed, and an Opportunistic
    /// policy went on in cleartext. Mail may go so; credentials may not.
    /// </summary>
    public bool TlsFailed { get; set; }

    /// <summary>The cached cleartext reply the session was answered from, when it was.</summary>
    public EhloCapabilities? CachedCleartext { get; private set; }

    /// <summary>The cached post-STARTTLS reply, when TLS will be used and it is cached too.</summary>
    public EhloCapabilities? CachedAfterTls { get; private set; }

    /// <summary>
    /// A refusal of the whole connection (banner, EHLO, a TLS policy the remote cannot meet) after the sender was
    /// already answered from the cache: it answers every later command that needs the remote.
    /// </summary>
    public byte[]? Refusal { get; set; }

    /// <summary>The name the proxy says EHLO with: the sender's (or the configured HeloName), else the host name.</summary>
    public string HeloName { get; set; } = string.Empty;

    private string EhloName => HeloName.Length > 0 ? HeloName : _options.HeloName ?? _options.HostName;

    public void UseCapabilities(EhloCapabilities capabilities)
    {
        Capabilities = capabilities;
        Pipelining = capabilities.Contains(SmtpKeywords.Pipelining);
        Chunking = capabilities.Contains(SmtpKeywords.Chunking);
        BinaryMime = Chunking && capabilities.Contains(SmtpKeywords.BinaryMime);
    }

    public void WriteEhlo(System.Buffers.IBufferWriter<byte> output) => SmtpCommandWriter.WriteEhlo(output, EhloName);

    /// <summary>
    /// The capabilities the sender is answered with from the cache: the post-TLS reply when TLS will be used and it is
    /// cached (that is what will be in force), the cleartext one otherwise. Null when there is no usable entry.
    /// </summary>
    public EhloCapabilities? CachedCapabilities()
    {
        var cached = FindCachedCapabilities();
        FromCache = cached is not null;
        return cached;
    }

    private EhloCapabilities? FindCachedCapabilities()
    {
        if (OnConnect)
        {
            // One phase, the TLS one (Exim's crypted view alone, C4): the flight follows the handshake.
            return _options.EarlyPipelining && _cache.TryGetFresh(Key, out var secured) ? secured.CreateCapabilities() : null;
        }

        if (!_options.EarlyPipelining || !_cache.TryGetFresh(Key, out var cleartext))
        {
            return null;
        }

        CachedCleartext = cleartext.CreateCapabilities();
        if (!CachedCleartext.Contains(SmtpKeywords.StartTls))
        {
            // Under a Required policy an entry without STARTTLS answers nothing: the flight it would allow is
            // cleartext MAIL and RCPT. The session meets the remote in lockstep, which refuses before MAIL.
            return _options.Tls.Mode == OutboundTlsMode.Required ? null : CachedCleartext;
        }

        if (!TlsWanted)
        {
            return CachedCleartext;
        }

        // Exim's rule (C4): early pipelining after STARTTLS only when it was early before it too.
        if (_cache.TryGetFresh(Key.WithPhase(TlsPhase.AfterStartTls), out var afterStartTls))
        {
            CachedAfterTls = afterStartTls.CreateCapabilities();
            return CachedAfterTls;
        }

        return CachedCleartext;
    }

    public ValueTask<UpstreamChannel> ConnectAsync(bool fastOpen, ReadOnlyMemory<byte> firstFlight = default)
    {
        ConnectedAt = _time.GetTimestamp();
        Messages = 0;
        OpenedEarly = false;
        return UpstreamChannel.ConnectAsync(_connector, _endPoint, _listener.SourceAddress, fastOpen, firstFlight,
            _deadline, _options.Timeouts, _options.Limits, _record, countsRoundTrips: true);
    }

    /// <summary>
    /// The listener's TLS policy toward the remote, as far as it decides what a connection is: a connection is only
    /// reused under the policy it was secured (or left cleartext) under.
    /// </summary>
    private string TlsPolicy => string.Join('|', _options.Tls.Mode, _options.Tls.VerifyCertificate, RemoteTlsName.Configured(_listener),
        _options.Tls.TrustedCaPath);

    /// <summary>The connection cache key of this session's remote in <paramref name="phase"/>, greeted with the session's EHLO name.</summary>
    public WarmKey WarmKey(TlsPhase phase) => new(Key.WithPhase(phase), EhloName, TlsPolicy);

    /// <summary>
    /// The keys of the parked connections this session may take: those in the TLS phase its policy would reach. A
    /// cleartext connection is parked under Opportunistic only when its remote offered no STARTTLS (<see
    /// cref="MayPark"/>), so under that policy both phases are what a fresh connection would have been.
    /// </summary>
    public WarmKey[] WarmKeys() => _options.Tls.Mode switch
    {
        OutboundTlsMode.None => [WarmKey(TlsPhase.Cleartext)],
        OutboundTlsMode.Required => [WarmKey(TlsPhase.AfterStartTls)],
        OutboundTlsMode.OnConnect => [WarmKey(TlsPhase.TlsOnConnect)],
        _ => [WarmKey(TlsPhase.AfterStartTls), WarmKey(TlsPhase.Cleartext)],
    };

    /// <summary>Whether a parked connection under <paramref name="key"/> could serve this session (its EHLO name not known yet).</summary>
    public bool MayUse(WarmKey key) =>
        key.TlsPolicy == TlsPolicy && (_options.HeloName is null || key.HeloName == EhloName)
        && Array.Exists(WarmKeys(), mine => mine.Remote == key.Remote);

    /// <summary>
    /// Whether the connection is in the TLS state a fresh one under the policy would reach, so that the next session
    /// may take it: not after TLS failed and was given up (Opportunistic going on in cleartext), and in cleartext only
    /// where the policy asks for none or the remote offers no STARTTLS.
    /// </summary>
    public bool MayPark => Capabilities is not null && !TlsFailed && _options.Tls.Mode switch
    {
        OutboundTlsMode.None => !TlsActive,
        OutboundTlsMode.Required => TlsActive && Key.Phase == TlsPhase.AfterStartTls,
        OutboundTlsMode.OnConnect => TlsActive && Key.Phase == TlsPhase.TlsOnConnect,
        _ => TlsActive ? Key.Phase == TlsPhase.AfterStartTls : !Capabilities.Contains(SmtpKeywords.StartTls),
    };

    /// <summary>A warm connection taken from the cache becomes the session's, with what its live EHLO reply offered.</summary>
    public void Adopt(WarmConnection warm, UpstreamChannel channel)
    {
        Channel = channel;
        UseCapabilities(warm.Capabilities);
        TlsActive = warm.Phase != TlsPhase.Cleartext;
        Key = Key.WithPhase(warm.Phase);
        // Its EHLO reply was learnt (or not) by the session that greeted it; nothing new was said here.
        _learnt = true;
        BannerCode = ReadyBannerCode;
        ConnectedAt = warm.ConnectedAt;
        Messages = warm.Messages;
        OpenedEarly = warm.OpenedEarly;
    }

    /// <summary>
    /// A TLS-on-connect connection (Tls:Mode OnConnect): TCP, then the handshake, before the remote says anything. A
    /// failed handshake or certificate check throws <see cref="UpstreamFailure.TlsFailed"/> (the sender's 421 4.7.5):
    /// there is nothing in cleartext to fall back to. Not Fast Open: the ClientHello is written after connect returns.
    /// Returns the connection, secured, for the caller to keep; the cache key is the TLS-on-connect phase's.
    /// </summary>
    public async ValueTask<UpstreamChannel> ConnectOnConnectAsync()
    {
        var channel = await ConnectAsync(fastOpen: false);
        var secured = false;
        try
        {
            await channel.UpgradeToTlsAsync(TlsOptions(), "implicit");
            secured = true;
        }
        catch (UpstreamUnavailableException ex)
        {
            SessionLog.UpstreamTlsHandshakeFailed(_record.Logger, "U", _endPoint, _record.Peer.Address, _record.Peer.Port, _listener.Name, ex.Message);
            throw new UpstreamUnavailableException(UpstreamFailure.TlsFailed, ex.Message, ex);
        }
        finally
        {
            if (!secured)
            {
                await channel.AbortAsync();
            }
        }

        TlsActive = true;
        Key = Key.WithPhase(TlsPhase.TlsOnConnect);
        _learnt = false;
        return channel;
    }

    /// <summary>A session without a usable cache entry: the remote's own banner is the sender's.</summary>
    public async ValueTask<UpstreamReply> ConnectForBannerAsync()
    {
        Channel = OnConnect ? await ConnectOnConnectAsync() : await ConnectAsync(fastOpen: false);
        var banner = await Channel.ReadReplyCopyAsync(_options.Timeouts.Banner);
        BannerCode = banner.Code;
        if (banner.Code != ReadyBannerCode)
        {
            // RFC 5321 §3.1: a server that refuses the session answers every command but QUIT with an error.
            Refusal = AsRefusal(banner);
        }

        return banner;
    }

    /// <summary>
    /// A plain session with a remote the sender was already greeted for from the cache: banner, then EHLO (learnt),
    /// and STARTTLS per policy. A refusal of any of them is kept in <see cref="Refusal"/> to answer the sender's
    /// commands. Returns the last reply: the EHLO reply the session goes on with, or the refusing one.
    /// </summary>
    public async ValueTask<UpstreamReply> ConnectLockstepAsync()
    {
        // No Fast Open here: with it the SYN waits for our first write, and in lockstep the remote speaks first.
        TlsActive = false;
        Key = Key.WithPhase(FirstPhase);
        _learnt = false;
        Channel = OnConnect ? await ConnectOnConnectAsync() : await ConnectAsync(fastOpen: false);
        var banner = await Channel.ReadReplyCopyAsync(_options.Timeouts.Banner);
        BannerCode = banner.Code;
        if (banner.Code != ReadyBannerCode)
        {
            Refusal = AsRefusal(banner);
            return banner;
        }

        var ehlo = await GreetAndSecureAsync();
        if (Refusal is null && (ehlo.Code != ReplyCode.Ok || !EhloCapabilities.TryParse(ehlo.AsSequence(), out _)))
        {
            Refusal = AsRefusal(ehlo);
        }

        return ehlo;
    }

    /// <summary>
    /// EHLO to the connected remote and, when policy and offer agree, STARTTLS and EHLO again. Returns the reply the
    /// session goes on with. A Required policy the remote cannot meet leaves a refusal in <see cref="Refusal"/>.
    /// </summary>
    public async ValueTask<UpstreamReply> GreetAndSecureAsync()
    {
        var reply = await GreetAsync();
        if (reply.Code != ReplyCode.Ok || TlsActive || !TlsWanted)
        {
            return reply;
        }

        if (!Capabilities!.Contains(SmtpKeywords.StartTls))
        {
            if (_options.Tls.Mode == OutboundTlsMode.Required)
            {
                Refusal = ProxyReplies.TlsNotOffered.ToArray();
            }

            return reply;
        }

        var channel = Channel!;
        SmtpCommandWriter.WriteStartTls(channel.Output);
        await channel.FlushAsync();
        var goAhead = await channel.ReadReplyCopyAsync(_options.Timeouts.BackendReply);
        if (goAhead.Code != ReplyCode.ServiceReady)
        {
            // RFC 3207 §4: after a refused STARTTLS the session goes on as it was; only a Required policy stops here.
            if (_options.Tls.Mode == OutboundTlsMode.Required)
            {
                Refusal = AsRefusal(goAhead);
            }

            TlsFailed = true;
            return reply;
        }

        if (!await TryHandshakeAsync())
        {
            // Opportunistic and the handshake failed: start over in cleartext on a new connection.
            await DropAsync();
            return await ConnectLockstepAsync();
        }

        return await GreetAsync();
    }

    /// <summary>EHLO to the connected remote; its first reply on the connection (per TLS phase) is learnt into the cache.</summary>
    public async ValueTask<UpstreamReply> GreetAsync()
    {
        var channel = Channel!;
        WriteEhlo(channel.Output);
        await channel.FlushAsync();
        var reply = await channel.ReadReplyCopyAsync(_options.Timeouts.BackendReply);
        Learn(reply);
        if (reply.Code == ReplyCode.Ok && EhloCapabilities.TryParse(reply.AsSequence(), out var capabilities))
        {
            UseCapabilities(capabilities!);
        }

        return reply;
    }

    /// <summary>
    /// The handshake over a connection whose 220 to STARTTLS was read. True when TLS is up (the cache key moves to the
    /// post-TLS phase); false when it failed under an Opportunistic policy; throws under a Required one.
    /// </summary>
    public async ValueTask<bool> TryHandshakeAsync()
    {
        try
        {
            await Channel!.UpgradeToTlsAsync(TlsOptions());
        }
        catch (UpstreamUnavailableException ex)
        {
            SessionLog.UpstreamTlsHandshakeFailed(_record.Logger, "U", _endPoint, _record.Peer.Address, _record.Peer.Port, _listener.Name, ex.Message);
            if (_options.Tls.Mode == OutboundTlsMode.Required)
            {
                throw new UpstreamUnavailableException(UpstreamFailure.TlsFailed, ex.Message, ex);
            }

            _tlsGaveUp = true;
            TlsFailed = true;
            return false;
        }

        TlsActive = true;
        Key = Key.WithPhase(TlsPhase.AfterStartTls);
        _learnt = false;
        return true;
    }

    /// <summary>
    /// Learns the first EHLO reply of a TLS phase into the cache (a reply that no longer offers the keyword flushes the
    /// entry); the session line's L field says what the remote offers.
    /// </summary>
    public void Learn(UpstreamReply ehlo)
    {
        if (_learnt || !_options.EarlyPipelining)
        {
            return;
        }

        _learnt = true;
        var outcome = _cache.Learn(Key, BannerCode, ehlo.AsSequence());
        if (outcome is EhloLearnOutcome.Stored or EhloLearnOutcome.Rewritten or EhloLearnOutcome.Confirmed && _record.Early == EarlyPipeUse.NotAdvertised)
        {
            _record.Early = EarlyPipeUse.Advertised;
        }
    }

    /// <summary>Aborts the connection and forgets it: the session will connect anew.</summary>
    public async ValueTask DropAsync()
    {
        if (Channel is { } channel)
        {
            Channel = null;
            await channel.AbortAsync();
        }
    }

    /// <summary>
    /// A banner or EHLO refusal as an answer to a later command. A reply that is not an error (a 2xx banner other than
    /// 220, say) must never read as an acceptance, so it becomes a plain 421.
    /// </summary>
    public static byte[] AsRefusal(UpstreamReply reply) => reply.Code >= 400 ? reply.Raw : ProxyReplies.RemoteUnavailable.ToArray();

    /// <summary>
    /// The name sent as SNI, checked against the certificate when verifying, and the key under which the TLS session
    /// is kept for resumption: the configured one, else the upstream's host name. An address is no name for SNI (RFC
    /// 6066 §3) and .NET keeps no session for it, so without verification the server's own name from its EHLO
    /// greeting serves: the next connection to the same remote resumes its session.
    /// </summary>
    private string TlsServerName()
    {
        if (RemoteTlsName.Configured(_listener) is { } configured)
        {
            return configured;
        }

        // On a TLS-on-connect session the greeting is the cached reply's: its first connection has none to go by.
        var greeting = Capabilities?.Greeting.Split(' ', 2)[0];
        return !_options.Tls.VerifyCertificate && Uri.CheckHostName(greeting) == UriHostNameType.Dns
            ? greeting!
            : _endPoint.Address.ToString();
    }

    private System.Net.Security.SslClientAuthenticationOptions TlsOptions() =>
        Tls.TlsClientOptions.Create(TlsServerName(), _options.Tls.VerifyCertificate, _listener.TrustAnchors);

    /// <summary>
    /// The source address the kernel would use toward the remote, for the cache key: servers decide per client
    /// address whether to offer early pipelining. Connecting a UDP socket only consults the routing table.
    /// </summary>
    private static IPAddress RouteSource(IPEndPoint remote)
    {
        using var probe = new Socket(remote.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            probe.Connect(remote);
        }
        catch (SocketException ex)
        {
            throw new UpstreamUnavailableException(UpstreamFailure.Unreachable, $"no route to {remote}: {ex.Message}", ex);
        }

        return ((IPEndPoint)probe.LocalEndPoint!).Address;
    }
}
