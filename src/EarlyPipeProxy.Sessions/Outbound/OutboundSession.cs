using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Runtime.CompilerServices;
using EarlyPipeProxy.Protocol.Capabilities;
using EarlyPipeProxy.Protocol.Commands;
using EarlyPipeProxy.Protocol.Replies;
using EarlyPipeProxy.Sessions.Auth;
using EarlyPipeProxy.Sessions.Configuration;
using EarlyPipeProxy.Sessions.Downstream;
using EarlyPipeProxy.Sessions.Lifetime;
using EarlyPipeProxy.Sessions.Logging;
using EarlyPipeProxy.Sessions.Outbound.Warm;
using EarlyPipeProxy.Sessions.Telemetry;
using EarlyPipeProxy.Sessions.Upstream;
using Microsoft.Extensions.Logging;
using EhloCacheStore = EarlyPipeProxy.Sessions.EhloCache.EhloCache;

namespace EarlyPipeProxy.Sessions.Outbound;

/// <summary>
/// One legacy sender's connection, relayed to a remote server the fastest way the remote allows. With a fresh cached
/// EHLO reply that offers early pipelining, the sender's banner, EHLO and MAIL are answered here and the remote gets
/// EHLO, MAIL and the first RCPT in one flight before its banner (<see cref="EarlyFlight"/>). Toward a remote that
/// offers PIPELINING, MAIL waits to travel with the first RCPT and DATA's 354 is given here; toward one that offers
/// CHUNKING the message goes as BDAT (<see cref="BdatSink"/>). Every answer that decides something (RCPT, end of data)
/// is the remote's own; one given early (MAIL, 354) is corrected at the sender's next answer that can carry the
/// remote's real outcome.
/// </summary>
public sealed class OutboundSession : ISessionPolicy, IDownstreamOwner
{
    private readonly OutboundListenerSettings _listener;
    private readonly OutboundListenerOptions _options;
    private readonly IDuplexPipe _pipe;
    private readonly IPEndPoint _remoteEndPoint;
    private readonly IUpstreamConnector _connector;
    private readonly EhloCacheStore _cache;
    private readonly SessionRecord _record;
    private readonly TimeProvider _time;
    private readonly WarmConnections _warmConnections;
    private SessionDeadline? _deadline;
    private DownstreamChannel? _sender;
    private RemoteLink? _remote;
    private PendingReplies? _pending;
    private EarlyFlight? _flight;
    private MessageRelay? _message;
    private WarmReuse? _warm;
    private TimeSpan? _parkedRoundTripTime;
    private CancellationToken _closeRequested;
    private CancellationToken _stopCutOff;
    private bool _greeted;
    private bool _authenticated;
    private bool _authAttempted;
    private bool _quitSent;
    private bool _over;

    public OutboundSession(
        OutboundListener listener,
        IDuplexPipe sender,
        IPEndPoint senderEndPoint,
        IPEndPoint remoteEndPoint,
        IUpstreamConnector connector,
        EhloCacheStore cache,
        ILogger logger,
        ProxyMetrics? metrics = null,
        TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(listener);
        _time = time ?? TimeProvider.System;
        // The listener's settings as they are now: a reload during the session does not change them under it.
        _listener = listener.Settings;
        _options = _listener.Options;
        _warmConnections = listener.WarmConnections;
        _pipe = sender;
        _remoteEndPoint = remoteEndPoint;
        _connector = connector;
        _cache = cache;
        _record = new SessionRecord(Direction.Outbound, _listener.Name, senderEndPoint, remoteEndPoint, logger, metrics);
        _record.Trace = Tracing.SessionTrace.Start(_options.Trace, _record);
    }

    public EarlyPipeUse EarlyPipeUse => _record.Early;

    /// <summary>
    /// Runs the session to its end. <paramref name="closeRequested"/> asks for a graceful end between transactions;
    /// <paramref name="stopCutOff"/> is the stop's point after which a message not yet ended is abandoned;
    /// <paramref name="aborted"/> cuts the session (see <see cref="SessionGuard"/>).
    /// </summary>
    public Task RunAsync(CancellationToken aborted, CancellationToken closeRequested = default, CancellationToken stopCutOff = default)
    {
        var deadline = new SessionDeadline(aborted, _time);
        _deadline = deadline;
        _closeRequested = closeRequested;
        _stopCutOff = stopCutOff;
        var sender = new DownstreamChannel(_pipe, deadline, _options.Timeouts, _options.Limits, _record, this);
        _sender = sender;
        return SessionGuard.RunAsync(this, _record, sender, deadline, closeRequested, stopCutOff);
    }

    bool ISessionPolicy.InTransaction => _pending?.InTransaction == true;

    // Outbound the saving is the proxy's own, toward the remote.
    TimeSpan? ISessionPolicy.MeasureRoundTripTime() => _remote?.Channel?.RoundTripTime ?? _parkedRoundTripTime;

    /// <summary>
    /// The sender's banner: the proxy's own from a cached reply, or when a warm connection to the remote is parked
    /// (its live EHLO reply then answers the sender's EHLO), else the remote's.
    /// </summary>
    async ValueTask<bool> ISessionPolicy.OpenAsync()
    {
        var sender = _sender!;
        var remote = new RemoteLink(_listener, _remoteEndPoint, _connector, _cache, _deadline!, _record, _warmConnections.Time);
        _remote = remote;
        _pending = new PendingReplies(sender, remote, _record);
        _warm = new WarmReuse(_warmConnections, _options, remote, _record);
        _flight = new EarlyFlight(_options, remote, _pending, sender, _record, _warm);
        _message = new MessageRelay(_options, sender, remote, _pending, _record);
        if ((remote.CachedCapabilities() ?? _warm.PeekCapabilities()) is { } cached)
        {
            // The remote's banner will be checked when the flight's replies come back; a bad one is a reason to redo
            // the session in lockstep, never something the sender sees. Greeted from a parked connection, the session
            // connects in lockstep should that connection be gone or stale by its first RCPT.
            remote.UseCapabilities(cached);
            sender.Write(ProxyReplies.Banner(_options.HostName));
        }
        else
        {
            sender.Write((await remote.ConnectForBannerAsync()).Raw);
        }

        return true;
    }

    /// <summary>Before the sender is waited for: the replies it is owed are collected. False once the session is over.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    async ValueTask<bool> IDownstreamOwner.SettleAsync()
    {
        await DrainAsync();
        return !_over && !_pending!.RemoteClosing;
    }

    /// <summary>
    /// The remote once it owes the sender nothing (settling collected every reply due), while it is not closing. A MAIL
    /// acknowledged here may wait in its output then, but unflushed: every flush is followed by the replies it asks for.
    /// Before the lazy connect there is nothing to watch.
    /// </summary>
    UpstreamChannel? IDownstreamOwner.IdleUpstream =>
        !_over && _pending is { Owed: 0, RemoteClosing: false } && _remote?.Channel is { IsClosed: false } channel ? channel : null;

    async ValueTask ISessionPolicy.RunCommandsAsync(CancellationToken closeRequested, CancellationToken stopCutOff)
    {
        var sender = _sender!;
        var pending = _pending!;
        while (!_over && !pending.RemoteClosing)
        {
            var stopping = closeRequested.IsCancellationRequested || stopCutOff.IsCancellationRequested;
            if (stopping && !pending.InTransaction)
            {
                await LocalReplyAsync(ProxyReplies.ShuttingDown);
                _record.Ended(SessionEnd.Shutdown);
                return;
            }

            if (stopCutOff.IsCancellationRequested)
            {
                // A transaction still open at the cut-off, its message not begun: what is owed goes first, then the
                // remote is left without an end of data.
                await LocalReplyAsync(ProxyReplies.ShuttingDown);
                if (_remote!.Channel is { } channel)
                {
                    channel.AbortOnClose = true;
                }

                pending.EndTransaction();
                _record.Ended(SessionEnd.ShutdownMessageAbandoned);
                return;
            }

            var read = await sender.ReadCommandAsync();
            if (read.Status == CommandReadStatus.Woken)
            {
                // The top of the loop decides: a stop asked for, or the replies collected ended the session.
                continue;
            }

            if (read.Status == CommandReadStatus.Closed)
            {
                // Mid-message: a reset makes sure the remote never takes a half message for a whole one.
                if (_remote!.Channel is { } channel)
                {
                    channel.AbortOnClose |= pending.InTransaction;
                }

                return;
            }

            if (read.Status != CommandReadStatus.Command)
            {
                // A legacy sender's over-long line is a mistake, not an attack: answer it and go on.
                await LocalReplyAsync(read.Refusal);
                continue;
            }

            var command = SmtpCommandParser.Parse(read.Line);
            var argument = command.Verb is SmtpVerb.Ehlo or SmtpVerb.Helo ? SmtpCommandParser.GetArgument(read.Line, command).Trim() : null;
            var line = read.LineWithEnding.ToArray();
            sender.Consume();
            if (command.Verb != SmtpVerb.Bdat)
            {
                if (_message!.ConvertedMessageOpen)
                {
                    // The remote is inside DATA: any line now would be message text there.
                    await BetweenConvertedChunksAsync(command.Verb);
                    continue;
                }

                _message.OtherCommand();
            }

            await ExecuteAsync(command, line, argument, read.MoreBuffered);
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask ExecuteAsync(SmtpCommand command, byte[] line, string? argument, bool moreBuffered)
    {
        switch (command.Verb)
        {
            case SmtpVerb.Ehlo:
            case SmtpVerb.Helo:
                await GreetAsync(command.Verb == SmtpVerb.Ehlo, argument!);
                break;
            case SmtpVerb.Mail:
                await MailAsync(line);
                break;
            case SmtpVerb.Rcpt:
                await RecipientAsync(line);
                break;
            case SmtpVerb.Data:
                await DataAsync(moreBuffered);
                break;
            case SmtpVerb.Rset:
                await ResetAsync(line);
                break;
            case SmtpVerb.Noop when _remote!.Channel is null:
                await LocalReplyAsync(ProxyReplies.Ok);
                break;
            case SmtpVerb.Quit:
                await QuitAsync();
                break;
            case SmtpVerb.StartTls:
                await StartTlsAsync();
                break;
            case SmtpVerb.Auth:
                await AuthAsync(line);
                break;
            case SmtpVerb.Bdat:
                await BdatAsync(command);
                break;
            case SmtpVerb.Xclient:
            case SmtpVerb.Xforward:
                await LocalReplyAsync(ProxyReplies.NotAuthorized);
                break;
            default:
                await OtherAsync(line);
                break;
        }
    }

    /// <summary>
    /// Sends what waits and collects the replies the sender is owed, in order. A MAIL acknowledged here is not waited
    /// for on its own (it travels with the next command) unless <paramref name="includeAcknowledged"/> says so. The
    /// first time the remote is needed it gets the early flight.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask DrainAsync(bool includeAcknowledged = false)
    {
        var pending = _pending!;
        var channel = _remote!.Channel;
        if (pending.Count == 0 || (pending.Owed == 0 && !(includeAcknowledged && channel is not null)))
        {
            return;
        }

        if (channel is null)
        {
            await _flight!.SendAsync(DrainAsync);
            return;
        }

        await channel.FlushAsync();
        await pending.CollectAsync(channel, _options.Timeouts.BackendReply);
    }

    private ValueTask SendAndDrainAsync(PendingReplyKind kind, byte[] line)
    {
        _pending!.Send(kind, line);
        return DrainAsync();
    }

    /// <summary>A reply of our own, in its place: everything the remote still owes the sender goes first.</summary>
    private ValueTask LocalReplyAsync(ReadOnlySpan<byte> reply)
    {
        if (_pending!.Owed == 0)
        {
            _sender!.Write(reply);
            return ValueTask.CompletedTask;
        }

        return DrainThenReplyAsync(reply.ToArray());
    }

    private async ValueTask DrainThenReplyAsync(byte[] reply)
    {
        await DrainAsync();
        _sender!.Write(reply);
    }

    /// <summary>
    /// EHLO/HELO. Answered from the cache while the remote has not been contacted (the flight carries the same EHLO);
    /// otherwise the remote gets EHLO and the sender its reply, edited to what the proxy can honour.
    /// </summary>
    private async ValueTask GreetAsync(bool extended, string name)
    {
        var sender = _sender!;
        var remote = _remote!;
        var pending = _pending!;
        await DrainAsync(includeAcknowledged: true);
        if (!SmtpCommandWriter.IsValidDomain(name))
        {
            // Nothing the proxy could repeat to the remote as one EHLO argument (RFC 5321 §4.1.1.1).
            await LocalReplyAsync(ProxyReplies.EhloSyntax);
            return;
        }

        remote.HeloName = _options.HeloName ?? name;
        pending.ForgetUnsentMail();
        pending.EndTransaction();
        if (remote.Refusal is { } refusal)
        {
            sender.Write(refusal);
            return;
        }

        if (remote.Channel is null)
        {
            WriteGreetingReply(extended, remote.Capabilities!);
            _greeted = true;
            return;
        }

        var reply = await remote.GreetAndSecureAsync();
        if (remote.Refusal is { } policy)
        {
            // A Required TLS policy the remote cannot meet: no mail goes in cleartext.
            sender.Write(policy);
            return;
        }

        if (reply.Code == ReplyCode.Ok && EhloCapabilities.TryParse(reply.AsSequence(), out var capabilities))
        {
            WriteGreetingReply(extended, capabilities!);
            _greeted = true;
            return;
        }

        if (!extended && ReplyCode.IsPermanentNegative(reply.Code))
        {
            // A server that refuses EHLO may still take HELO, which is all the sender asked for.
            var channel = remote.Channel!;
            SmtpCommandWriter.WriteHelo(channel.Output, remote.HeloName);
            await channel.FlushAsync();
            var helo = await channel.ReadReplyCopyAsync(_options.Timeouts.BackendReply);
            _greeted = helo.Code == ReplyCode.Ok;
            sender.Write(helo.Raw);
            return;
        }

        sender.Write(reply.Raw);
    }

    private void WriteGreetingReply(bool extended, EhloCapabilities remote)
    {
        if (!extended)
        {
            _sender!.Write(ProxyReplies.HeloReply(remote.Greeting));
            return;
        }

        _sender!.Write(OutboundEhloEditor.Edit(remote, offerStartTls: _listener.SenderCertificates is not null && _sender.Tls is null));
    }

    /// <summary>
    /// MAIL. Toward a remote that pipelines it is acknowledged here and travels with the first RCPT; the remote's real
    /// answer reaches the sender at that RCPT. Toward a lockstep remote it is relayed.
    /// </summary>
    private async ValueTask MailAsync(byte[] line)
    {
        var remote = _remote!;
        var pending = _pending!;
        if (!_greeted || remote.Refusal is not null)
        {
            // A refusal that came after the sender was greeted from the cache (a STARTTLS the remote turned down under
            // Required, say) answers this MAIL too: it must not reach the remote in cleartext.
            await LocalReplyAsync(remote.Refusal ?? ProxyReplies.SendHeloFirst.ToArray());
            return;
        }

        if (pending.Owed > 0)
        {
            await DrainAsync();
        }

        if (!remote.BinaryMime && MailParameters.DeclaresBinaryMime(line))
        {
            // RFC 3030 §3: binary content travels by BDAT only, and this remote does not take it.
            await LocalReplyAsync(ProxyReplies.BinaryMimeUnavailable);
            return;
        }

        if (remote.Pipelining && !pending.InTransaction)
        {
            pending.EndTransaction();
            pending.Send(PendingReplyKind.AcknowledgedMail, line);
            _sender!.Write(ProxyReplies.SenderOk);
            pending.InTransaction = true;
            return;
        }

        await SendAndDrainAsync(PendingReplyKind.Mail, line);
    }

    private async ValueTask RecipientAsync(byte[] line)
    {
        var pending = _pending!;
        if (_remote!.Refusal is { } refused)
        {
            // A remote that refused the session (a TLS policy it cannot meet, say) gets no RCPT either.
            await LocalReplyAsync(refused);
            return;
        }

        if (pending.MailRefusal is { } refusal && pending.Count == 0)
        {
            // The remote has no transaction: its refusal of the MAIL is the answer to every RCPT of it.
            _sender!.Write(refusal);
            return;
        }

        pending.Send(PendingReplyKind.Recipient, line);
        if (!_remote!.Pipelining)
        {
            await DrainAsync();
        }
    }

    /// <summary>
    /// RSET. Answered here only while the transaction exists only here (at most a MAIL acknowledged here that never
    /// left). Once anything of it is bound for the remote (a RCPT waiting for the flight) or there, the remote gets
    /// the RSET too (in the flight, behind them): else it would still hold the MAIL and refuse the next one.
    /// </summary>
    private async ValueTask ResetAsync(byte[] line)
    {
        var pending = _pending!;
        if (_remote!.Channel is null && pending.Owed == 0)
        {
            pending.ForgetUnsentMail();
            pending.EndTransaction();
            await LocalReplyAsync(ProxyReplies.Ok);
            return;
        }

        await SendAndDrainAsync(PendingReplyKind.Reset, line);
    }

    /// <summary>
    /// AUTH: relayed to the remote with its SASL exchange (<see cref="SaslExchange"/>), once the remote is greeted (and
    /// secured, per policy). Not part of an early flight: the credentials wait for the banner and, with TLS, for the
    /// handshake.
    /// </summary>
    private async ValueTask AuthAsync(byte[] line)
    {
        var pending = _pending!;
        if (!_greeted || pending.InTransaction)
        {
            await LocalReplyAsync(_greeted ? ProxyReplies.TransactionInProgress : ProxyReplies.SendHeloFirst);
            return;
        }

        // An authenticated connection is this sender's: never parked for another session.
        _authAttempted = true;
        if (!await MeetRemoteAsync())
        {
            return;
        }

        if (_remote!.TlsFailed)
        {
            // TLS was expected and failed, and the session went on in cleartext (Opportunistic): mail may go so,
            // credentials may not.
            _sender!.Write(ProxyReplies.AuthWithoutTls);
            return;
        }

        await SendAndDrainAsync(PendingReplyKind.Auth, line);
        var last = await SaslExchange.RelayAsync(_sender!, _remote!.Channel!, pending.LastCode, async () =>
        {
            pending.Expect(PendingReplyKind.Auth);
            await DrainAsync();
            return pending.LastCode;
        });
        if (last is null)
        {
            _record.Ended(SessionEnd.PeerClosedDuringAuth);
            _remote.Channel!.AbortOnClose = true;
            _over = true;
            return;
        }

        _authenticated |= last == ReplyCode.AuthSucceeded;
    }

    /// <summary>Anything else (VRFY, HELP, NOOP once connected, unknown verbs): relayed, unless the remote refused the session.</summary>
    private async ValueTask OtherAsync(byte[] line)
    {
        if (await MeetRemoteAsync())
        {
            await SendAndDrainAsync(PendingReplyKind.Other, line);
        }
    }

    /// <summary>
    /// Connects for a command that has no place in an early flight (VRFY, HELP, AUTH and the like), on the one
    /// connection of the session: what waits for the remote (a MAIL acknowledged here, its RCPTs) goes first, as the
    /// early flight, so the remote's transaction is the one the sender believes in. False, with the sender answered,
    /// when the remote refused the session.
    /// </summary>
    private async ValueTask<bool> MeetRemoteAsync()
    {
        var remote = _remote!;
        if (remote.Channel is null && remote.Refusal is null)
        {
            if (_pending!.Count > 0)
            {
                await _flight!.SendAsync(DrainAsync);
            }
            else
            {
                await remote.ConnectLockstepAsync();
            }
        }

        if (remote.Refusal is { } refusal)
        {
            await LocalReplyAsync(refusal);
            return false;
        }

        return true;
    }

    /// <summary>QUIT is answered here at once; the remote gets its QUIT without the sender waiting for the reply.</summary>
    private async ValueTask QuitAsync()
    {
        var sender = _sender!;
        await DrainAsync();

        // A clean connection is parked before the sender hears its 221 (parking waits for nothing: the RSET's answer is
        // read later): a sender that reconnects at once for its next message finds it there.
        _pending!.ForgetUnsentMail();
        var parked = _remote!.Channel is not null && await TryParkAsync();
        sender.Write(ProxyReplies.Bye);
        await sender.FlushAsync();
        _over = true;
        _record.Ended(SessionEnd.Quit);
        if (!parked && _remote.Channel is { } channel)
        {
            await channel.QuitAsync(_pending.Count, readReplies: true);
            _quitSent = true;
        }
    }

    /// <summary>
    /// Instead of QUIT, the remote connection is reset and parked for the next session (<see cref="WarmReuse"/>) when
    /// it is clean: no transaction open there and no reply owed, the last transaction ended by a 250 to its end of data
    /// or to RSET, no message half sent, no AUTH, and the proxy not stopping. True when it was parked.
    /// </summary>
    private async ValueTask<bool> TryParkAsync()
    {
        var pending = _pending!;
        if (_remote?.Channel is not { } channel || _authAttempted || _message!.ConvertedMessageOpen || _record.AwaitingVerdict
            || pending.Count > 0 || pending.InTransaction || pending.RemoteClosing || !pending.RemoteClean || _remote.Refusal is not null
            || _closeRequested.IsCancellationRequested || _stopCutOff.IsCancellationRequested)
        {
            return false;
        }

        var roundTripTime = channel.RoundTripTime;
        if (!await _warm!.TryParkAsync())
        {
            return false;
        }

        _parkedRoundTripTime = roundTripTime;
        return true;
    }


    /// <summary>
    /// STARTTLS from the sender (RFC 3207), when the listener has a certificate: the same policy as inbound
    /// (<see cref="DownstreamChannel.StartTlsAsync"/>). The remote's side is unaffected: it has its own TLS per policy.
    /// </summary>
    private async ValueTask StartTlsAsync()
    {
        var sender = _sender!;
        var pending = _pending!;
        var refusal = sender.StartTlsRefusal(_listener.SenderCertificates, pending.InTransaction, _authenticated);
        if (!refusal.IsEmpty)
        {
            await LocalReplyAsync(refusal);
            return;
        }

        await DrainAsync(includeAcknowledged: true);
        if (!await sender.StartTlsAsync(_listener.SenderCertificates!))
        {
            _over = true;
            return;
        }

        _greeted = false;
        pending.ForgetUnsentMail();
        pending.EndTransaction();
    }

    /// <summary>DATA: the message itself is <see cref="MessageRelay"/>'s; here only what decides whether it starts.</summary>
    private async ValueTask DataAsync(bool moreBuffered)
    {
        if (moreBuffered)
        {
            // RFC 2920 §3.1: DATA ends a group; a body sent before its 354 cannot be told from commands.
            await LocalReplyAsync(ProxyReplies.SynchronizationError);
            _record.Ended(SessionEnd.DataBefore354);
            _over = true;
            return;
        }

        await DrainAsync();
        if (!_pending!.RemoteClosing)
        {
            _over |= !await _message!.RelayAsync(DrainAsync);
        }
    }

    /// <summary>
    /// BDAT from the sender (CHUNKING is offered to it): the message is <see cref="MessageRelay"/>'s, as BDAT or as DATA
    /// per the remote. A chunk without a size cannot be told from commands: the session stops there.
    /// </summary>
    private async ValueTask BdatAsync(SmtpCommand command)
    {
        if (command.IsMalformedBdat)
        {
            await LocalReplyAsync(ProxyReplies.BdatSyntax);
            _record.Ended(SessionEnd.MalformedBdat);
            _over = true;
            return;
        }

        await DrainAsync();
        if (!_pending!.RemoteClosing)
        {
            _over |= !await _message!.ChunkAsync(command);
        }
    }

    /// <summary>
    /// A command between the chunks of a message the remote receives as DATA: nothing may reach the remote, which would
    /// take it for message text. NOOP is answered here; QUIT too, the remote connection reset so that the unfinished
    /// message is never delivered; RSET abandons it the same way and, the connection being lost to the session, closes
    /// with 421; anything else is 503.
    /// </summary>
    private async ValueTask BetweenConvertedChunksAsync(SmtpVerb verb)
    {
        var sender = _sender!;
        switch (verb)
        {
            case SmtpVerb.Noop:
                await LocalReplyAsync(ProxyReplies.Ok);
                return;
            case SmtpVerb.Quit:
                _message!.AbandonConvertedMessage();
                await LocalReplyAsync(ProxyReplies.Bye);
                _record.Ended(SessionEnd.Quit);
                break;
            case SmtpVerb.Rset:
                _message!.AbandonConvertedMessage();
                await LocalReplyAsync(ProxyReplies.ChunkedMessageAbandoned);
                _record.Ended(SessionEnd.ChunkedMessageAbandoned);
                break;
            default:
                await LocalReplyAsync(ProxyReplies.ChunkedMessageInProgress);
                return;
        }

        await sender.FlushAsync();
        _over = true;
    }

    /// <summary>The remote failed: every answer the sender waits for is a 421, and the session ends (RFC 5321 §3.8).</summary>
    void ISessionPolicy.AnswerUpstreamFailure(UpstreamUnavailableException ex)
    {
        if (ex.LastWord is { } lastWord)
        {
            // The remote closed the idle session with its own 421 (its timeout, a stop): the sender gets its words.
            SessionLog.UpstreamClosedIdleSession(_record.Logger, "remote", "U", _remoteEndPoint, _record.Peer.Address, _record.Peer.Port, _listener.Name,
                ex.Message);
            _record.Ended(SessionEnd.UpstreamClosedWith421);
            _sender!.Write(lastWord);
            return;
        }

        SessionLog.UpstreamUnavailable(_record.Logger, "remote", "U", _remoteEndPoint, _record.Peer.Address, _record.Peer.Port, _listener.Name, ex.Message);
        _record.EndedUnavailable(ex.Failure);

        // TLS that policy requires (Required, OnConnect) and that failed says so: the sender's log shows why.
        var reply = ex.Failure == UpstreamFailure.TlsFailed ? ProxyReplies.RemoteTlsFailed : ProxyReplies.RemoteUnavailable;
        if (_pending is { } pending)
        {
            pending.AnswerOwedWith(reply, atLeast: 1);
        }
        else
        {
            _sender!.Write(reply);
        }
    }

    async ValueTask ISessionPolicy.CloseUpstreamAsync(bool abort)
    {
        if (_remote?.Channel is not { } channel)
        {
            return;
        }

        channel.AbortOnClose |= abort;
        if (!channel.AbortOnClose && !_quitSent && await TryParkAsync())
        {
            // A sender gone between transactions (or timed out there) leaves a clean connection too.
            return;
        }

        if (!channel.AbortOnClose && !_quitSent)
        {
            // A sender that left without QUIT: the remote still gets a polite end, if it takes it promptly.
            await channel.QuitAsync(_pending!.Count, readReplies: false);
        }

        await channel.CloseAsync();
    }
}
