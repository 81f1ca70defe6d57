using System.Buffers;
using System.Globalization;
using EarlyPipeProxy.Protocol.Capabilities;
using EarlyPipeProxy.Protocol.Commands;
using EarlyPipeProxy.Protocol.Replies;
using EarlyPipeProxy.Sessions.Configuration;
using EarlyPipeProxy.Sessions.Downstream;
using EarlyPipeProxy.Sessions.EhloCache;
using EarlyPipeProxy.Sessions.Logging;
using EarlyPipeProxy.Sessions.Outbound.Warm;
using EarlyPipeProxy.Sessions.Telemetry;
using EarlyPipeProxy.Sessions.Upstream;

namespace EarlyPipeProxy.Sessions.Outbound;

/// <summary>
/// Outbound policy: the first flight of a session answered from the cache, sent before the remote's banner: EHLO and
/// every waiting command (MAIL, RCPT); or, when TLS will be used, EHLO and STARTTLS, and after the handshake EHLO and
/// the waiting commands in one flight when the post-TLS reply is cached too; or, TLS on connect, the handshake and then
/// EHLO and the waiting commands in one flight, still before the banner (the draft's tls-on-connect sequence). The flight's replies are all read before
/// any reaches the sender: a bad banner or a connection lost on the way flushes the entry of the phase that failed and
/// the session is redone in lockstep at once, so the sender sees nothing of it. So is a flight whose replies answer
/// early input the remote did not invite (the live EHLO no longer offers the keyword) or object to it (a protocol
/// error, <see cref="ProtocolErrorReply"/>): they are the remote's word on our timing, not its verdict on the sender's
/// commands, which the lockstep redo asks for. A flight carries no DATA, so nothing of the message can have been taken,
/// and the redo happens at most once: it never flies early.
/// </summary>
internal sealed class EarlyFlight
{
    private readonly OutboundListenerOptions _options;
    private readonly RemoteLink _remote;
    private readonly PendingReplies _pending;
    private readonly DownstreamChannel _sender;
    private readonly SessionRecord _record;
    private readonly WarmReuse? _warm;

    public EarlyFlight(OutboundListenerOptions options, RemoteLink remote, PendingReplies pending, DownstreamChannel sender, SessionRecord record,
        WarmReuse? warm = null)
    {
        _warm = warm;
        _options = options;
        _remote = remote;
        _pending = pending;
        _sender = sender;
        _record = record;
    }

    /// <summary>
    /// Sends the waiting commands over a warm connection when one is parked for the remote; else connects with them
    /// (early, from a cached reply) and delivers their replies, or completes them the ordinary way.
    /// </summary>
    public async ValueTask SendAsync(Func<bool, ValueTask> drainAsync)
    {
        var flight = _pending.TakeFlight();
        if (_warm is not null && await _warm.TryFlightAsync(flight) is { } warmReplies)
        {
            // A warm connection's replies are the remote's verdicts on a live session: no cache rule is about them.
            _pending.Requeue(flight);
            _pending.Process(warmReplies);
            return;
        }

        UpstreamReply[]? replies = null;
        string? failure = null;
        try
        {
            // Greeted from a parked connection that is gone now, without a cache entry to fly from: lockstep below.
            replies = _remote.FromCache ? await FlyAsync(flight) : null;
        }
        catch (UpstreamUnavailableException ex) when (ex.Failure != UpstreamFailure.TlsFailed)
        {
            // After the handshake the post-TLS entry was the one relied on; before it, the cleartext one.
            _remote.Cache.Flush(_remote.Key, EhloCacheFlushReason.ConnectionFailed);
            _record.Redo = "early flight failed: " + ex.Failure.ToString().ToLowerInvariant();
            // The session line keeps the short word; the redo's own line says what the socket said, so that an
            // operator can tell a refused connection from a timeout.
            failure = _record.Redo + " (" + ex.Message + ")";
            await _remote.DropAsync();
        }

        if (replies is not null)
        {
            // Every reply is in: from here on they reach the sender, and nothing is redone.
            _pending.EarlyTransaction = Array.Exists(flight, command => command.Kind is PendingReplyKind.AcknowledgedMail or PendingReplyKind.Mail);
            _pending.Requeue(flight);
            _pending.Process(replies);
            return;
        }

        if (_remote.Channel is null)
        {
            if (_remote.FromCache)
            {
                SessionLog.EarlyFlightRedone(_record.Logger, _record.Peer.Address, _record.Peer.Port, _record.Listener, _record.Upstream, failure ?? _record.Redo!);
            }

            // Until the redo sends them again, the flight's commands are still owed: a remote that cannot be reached
            // now owes each of them its 421.
            _pending.Owed = Array.FindAll(flight, command => command.IsOwed).Length;
            await _remote.ConnectLockstepAsync();
            _pending.Owed = 0;
        }

        if (_remote.Refusal is { } refusal)
        {
            foreach (var command in flight)
            {
                if (command.IsOwed)
                {
                    _sender.Write(refusal);
                }
            }

            _pending.InTransaction = false;
            return;
        }

        // Connected and greeted, the waiting commands not sent yet: the ordinary way, in groups where the remote pipelines.
        foreach (var command in flight)
        {
            _pending.Send(command.Kind, command.Line!);
            if (!_remote.Pipelining)
            {
                await drainAsync(true);
            }
        }

        await drainAsync(true);
    }

    /// <summary>
    /// Connects and sends the flight. Returns the replies to <paramref name="flight"/> when they all came back from an
    /// early flight; null when the flight has to be completed the ordinary way: with the connection standing, greeted,
    /// and the commands still to send; or without one (the redo field says why the session starts over in lockstep).
    /// The connection is aborted on every way out that does not keep it.
    /// </summary>
    private async ValueTask<UpstreamReply[]?> FlyAsync(PendingReply[] flight)
    {
        var onConnect = _remote.OnConnect;
        var secure = !onConnect && _remote.TlsWanted && _remote.CachedCleartext!.Contains(SmtpKeywords.StartTls);
        if (!onConnect && !secure && _options.Tls.Mode == OutboundTlsMode.Required)
        {
            // The cache gives no such entry under Required (RemoteLink.CachedCapabilities); should one get here all
            // the same, the lockstep redo meets the policy before any MAIL is written in cleartext.
            _record.Redo = "TLS required";
            return null;
        }

        var bytes = new ArrayBufferWriter<byte>(256);
        _remote.WriteEhlo(bytes);
        if (secure)
        {
            SmtpCommandWriter.WriteStartTls(bytes);
        }
        else
        {
            WriteLines(bytes, flight);
        }

        // TLS on connect: the handshake first (a failure is the sender's 421, never a cleartext retry), then the flight
        // in one write, without waiting for the banner the remote sends once the handshake is done.
        var connection = onConnect
            ? await _remote.ConnectOnConnectAsync()
            : await _remote.ConnectAsync(_options.FastOpen, bytes.WrittenMemory);
        try
        {
            if (onConnect)
            {
                connection.Write(bytes.WrittenSpan);
                await connection.FlushAsync();
            }

            var banner = await connection.ReadReplyCopyAsync(_options.Timeouts.Banner);
            if (banner.Code != ReplyCode.ServiceReady)
            {
                _remote.Cache.Flush(_remote.Key, EhloCacheFlushReason.BadBanner);
                _record.Redo = "banner " + banner.Code.ToString(CultureInfo.InvariantCulture);
                return null;
            }

            _remote.BannerCode = banner.Code;
            var ehlo = await connection.ReadReplyCopyAsync(_options.Timeouts.BackendReply);
            _remote.Learn(ehlo);
            if (ehlo.Code != ReplyCode.Ok || !EhloCapabilities.TryParse(ehlo.AsSequence(), out var capabilities))
            {
                _record.Redo = "EHLO " + ehlo.Code.ToString(CultureInfo.InvariantCulture);
                return null;
            }

            _remote.UseCapabilities(capabilities!);
            _record.Early = EarlyPipeUse.Used;
            _remote.OpenedEarly = true;

            // The entry went when it was learnt (Learn flushes it); Exim ≥ 4.97 lets what it sent stand and stops
            // early pipelining on the connection. Here no reply has reached the sender yet, so the flight is disowned.
            var withdrawn = !EarlyPipeKeywords.OffersEarlyPipelining(capabilities!);
            if (!secure)
            {
                var (replies, objection) = await ReadRepliesAsync(connection, flight);
                if (withdrawn || objection is not null)
                {
                    (var disowned, connection) = (connection, null);
                    await DisownAsync(disowned, withdrawn, objection);
                    return null;
                }

                (_remote.Channel, connection) = (connection, null);
                return replies;
            }

            var goAhead = await connection.ReadReplyCopyAsync(_options.Timeouts.BackendReply);
            if (ProtocolErrorReply.Is(goAhead.AsSequence()) || (withdrawn && goAhead.Code != ReplyCode.ServiceReady))
            {
                // A STARTTLS refused as early input says nothing of whether the remote would take it in its turn.
                (var disowned, connection) = (connection, null);
                await DisownAsync(disowned, withdrawn, "STARTTLS " + goAhead.Code.ToString(CultureInfo.InvariantCulture));
                return null;
            }

            (_remote.Channel, connection) = (connection, null);
            if (goAhead.Code != ReplyCode.ServiceReady)
            {
                // RFC 3207 §4: the session goes on as it was, in cleartext, unless the policy says no TLS no mail.
                _remote.Refusal = _options.Tls.Mode == OutboundTlsMode.Required ? RemoteLink.AsRefusal(goAhead) : null;
                _remote.TlsFailed = true;
                return null;
            }

            if (!await _remote.TryHandshakeAsync())
            {
                // Opportunistic TLS failed: a new cleartext connection, and the entries are not to blame.
                await _remote.DropAsync();
                _record.Redo = "TLS handshake failed";
                return null;
            }

            // Exim's rule (C4): early after STARTTLS only when the cleartext phase was early too, which a withdrawn
            // keyword ends for this connection (the 220 to STARTTLS was a go-ahead all the same).
            if (withdrawn || _remote.CachedAfterTls is null || !EarlyPipeKeywords.OffersEarlyPipelining(_remote.CachedAfterTls))
            {
                var secured = await _remote.GreetAsync();
                if (secured.Code != ReplyCode.Ok)
                {
                    _remote.Refusal = RemoteLink.AsRefusal(secured);
                }

                return null;
            }

            // The second early flight: EHLO and the waiting commands, straight after the handshake.
            var channel = _remote.Channel!;
            _remote.WriteEhlo(channel.Output);
            WriteLines(channel.Output, flight);
            await channel.FlushAsync();
            var securedEhlo = await channel.ReadReplyCopyAsync(_options.Timeouts.BackendReply);
            _remote.Learn(securedEhlo);
            if (securedEhlo.Code != ReplyCode.Ok || !EhloCapabilities.TryParse(securedEhlo.AsSequence(), out var securedCapabilities))
            {
                throw new UpstreamUnavailableException(UpstreamFailure.MalformedReply, $"EHLO after STARTTLS answered {securedEhlo.Code}");
            }

            _remote.UseCapabilities(securedCapabilities!);
            var securedWithdrawn = !EarlyPipeKeywords.OffersEarlyPipelining(securedCapabilities!);
            var (securedReplies, securedObjection) = await ReadRepliesAsync(channel, flight);
            if (securedWithdrawn || securedObjection is not null)
            {
                _remote.Channel = null;
                await DisownAsync(channel, securedWithdrawn, securedObjection);
                return null;
            }

            return securedReplies;
        }
        finally
        {
            if (connection is not null)
            {
                await connection.AbortAsync();
            }
        }
    }

    /// <summary>
    /// The replies to the flight's commands, in order. Reading stops at the first that objects to the commands
    /// themselves (a remote that refuses early input may close right after it, as Exim does after its 554), and the
    /// objection names it ("RCPT 554"); null when there is none.
    /// </summary>
    private async ValueTask<(UpstreamReply[] Replies, string? Objection)> ReadRepliesAsync(UpstreamChannel connection, PendingReply[] flight)
    {
        var replies = new UpstreamReply[flight.Length];
        for (var i = 0; i < replies.Length; i++)
        {
            replies[i] = await connection.ReadReplyCopyAsync(_options.Timeouts.BackendReply);
            if (ProtocolErrorReply.Is(replies[i].AsSequence()))
            {
                var verb = SmtpCommandParser.Parse(flight[i].Line).Verb.ToString().ToUpperInvariant();
                return (replies, verb + " " + replies[i].Code.ToString(CultureInfo.InvariantCulture));
            }
        }

        return (replies, null);
    }

    /// <summary>
    /// Gives up a flight whose replies are not the remote's verdict, before any reaches the sender: the connection
    /// goes, with the transaction the flight may have opened there, and the redo field says why. A remote that only
    /// withdrew the keyword gets QUIT, which ends that transaction with the session (RFC 5321 §4.1.1.10); one that
    /// objected to our input is reset, as it may be closing already and nothing more of ours is to be read as a
    /// command. Either way no DATA was sent, so the remote holds nothing it could deliver. The entry of the phase is
    /// flushed: a withdrawn keyword flushed it when the EHLO reply was learnt, an objection flushes it here.
    /// </summary>
    private async ValueTask DisownAsync(UpstreamChannel connection, bool withdrawn, string? objection)
    {
        _record.Redo = (withdrawn, objection) switch
        {
            (true, null) => "keyword withdrawn",
            (true, _) => "keyword withdrawn, " + objection,
            _ => objection,
        };
        if (objection is null)
        {
            await connection.QuitAsync(owed: 0, readReplies: false);
            await connection.CloseAsync();
            return;
        }

        await connection.AbortAsync();
        if (!withdrawn)
        {
            _remote.Cache.Flush(_remote.Key, EhloCacheFlushReason.EarlyInputRefused);
        }
    }

    private static void WriteLines(IBufferWriter<byte> output, PendingReply[] flight)
    {
        foreach (var command in flight)
        {
            output.Write(command.Line);
        }
    }
}
