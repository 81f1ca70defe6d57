using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using EarlyPipeProxy.Protocol.ClientIdentity;
using EarlyPipeProxy.Protocol.Commands;
using EarlyPipeProxy.Protocol.Replies;
using EarlyPipeProxy.Sessions.Auth;
using EarlyPipeProxy.Sessions.Configuration;
using EarlyPipeProxy.Sessions.Downstream;
using EarlyPipeProxy.Sessions.Lifetime;
using EarlyPipeProxy.Sessions.Logging;
using EarlyPipeProxy.Sessions.Messages;
using EarlyPipeProxy.Sessions.Telemetry;
using EarlyPipeProxy.Sessions.Upstream;
using Microsoft.Extensions.Logging;

namespace EarlyPipeProxy.Sessions.Inbound;

/// <summary>
/// One client connection in front of a legacy MTA. The client may talk before the banner (early pipelining) and may
/// pipeline freely; the backend only ever sees a polite client: nothing before its final greeting line, EHLO alone,
/// RFC 2920 groups only when it offers PIPELINING, one command at a time otherwise. Every reply the client gets to a
/// command it sent is the backend's own, in order (<see cref="ReplyRelay"/>).
/// </summary>
public sealed class InboundSession : ISessionPolicy, IDownstreamOwner
{
    private readonly InboundListenerSettings _listener;
    private readonly InboundListenerOptions _options;
    private readonly IPEndPoint _clientEndPoint;
    private readonly IPEndPoint _localEndPoint;
    private readonly IUpstreamConnector _connector;
    private readonly bool _advertise;
    private readonly SessionRecord _record;
    private readonly TimeProvider _time;
    private readonly Socket? _clientSocket;
    private SessionDeadline? _deadline;
    private DownstreamChannel? _client;
    private ReplyRelay? _relay;
    private bool _over;
    private bool _authenticated;

    // A BDAT message the backend (without CHUNKING) receives as DATA, between its chunks: its DATA is open there.
    private ChunksAsData? _chunksAsData;

    // The backend refused the DATA of a BDAT message: that refusal answers the message's chunks still to come.
    private byte[]? _chunksRefusal;

    public InboundSession(
        InboundListener listener,
        IDuplexPipe client,
        IPEndPoint clientEndPoint,
        IPEndPoint localEndPoint,
        IUpstreamConnector connector,
        ILogger logger,
        ProxyMetrics? metrics = null,
        Socket? clientSocket = null,
        TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(listener);
        _time = time ?? TimeProvider.System;
        _clientSocket = clientSocket;
        // The listener's settings as they are now: a reload during the session does not change them under it.
        _listener = listener.Settings;
        _options = _listener.Options;
        _clientEndPoint = Normalize(clientEndPoint);
        _localEndPoint = Normalize(localEndPoint);
        _connector = connector;
        _advertise = _listener.AdvertiseHosts.Contains(_clientEndPoint.Address);
        _record = new SessionRecord(Direction.Inbound, _listener.Name, _clientEndPoint, _listener.BackendEndPoint, logger, metrics)
        {
            TlsLabel = _options.ImplicitTls ? "implicit" : "none",
        };
        _record.Trace = Tracing.SessionTrace.Start(_options.Trace, _record);
        Pipe = client;
    }

    public EarlyPipeUse EarlyPipeUse => _record.Early;

    private IDuplexPipe Pipe { get; }

    /// <summary>
    /// Runs the session to its end. <paramref name="closeRequested"/> asks for a graceful end between transactions;
    /// <paramref name="stopCutOff"/> is the stop's point after which a message not yet ended is abandoned;
    /// <paramref name="aborted"/> cuts the session (see <see cref="SessionGuard"/>).
    /// </summary>
    public Task RunAsync(CancellationToken aborted, CancellationToken closeRequested = default, CancellationToken stopCutOff = default)
    {
        var deadline = new SessionDeadline(aborted, _time);
        _deadline = deadline;
        var client = new DownstreamChannel(Pipe, deadline, _options.Timeouts, _options.Limits, _record, this) { CountsRoundTrips = true };
        _client = client;
        _relay = new ReplyRelay(_listener, client, _record, _advertise);
        return SessionGuard.RunAsync(this, _record, client, deadline, closeRequested, stopCutOff);
    }

    bool ISessionPolicy.InTransaction => _relay!.InTransaction;

    // Inbound the saving is the client's: its round trips are the ones not waited for.
    TimeSpan? ISessionPolicy.MeasureRoundTripTime() => _clientSocket is null ? null : TcpRoundTrip.Measure(_clientSocket);

    /// <summary>TLS-on-connect, the backend up to its banner, the early-input decision, and the banner to the client.</summary>
    async ValueTask<bool> ISessionPolicy.OpenAsync()
    {
        var client = _client!;
        if (_options.ImplicitTls && !await client.HandshakeAsync(_listener.Certificates!, "implicit"))
        {
            return false;
        }

        var opening = new BackendOpening(_listener, _clientEndPoint, _localEndPoint, _deadline!, _record);
        _relay!.Backend = await opening.ConnectAsync(_connector, ProxyTlsInfoOrNull());
        if (await opening.GreetAsync(_relay.Backend, client) is not { } banner || !await AcceptEarlyInputAsync())
        {
            return false;
        }

        client.Write(banner);
        return true;
    }

    /// <summary>
    /// Exim's check, made immediately before the banner is written: is there input already? From an advertise host
    /// it is the early path; from any other it is a synchronization error, and the backend never sees a byte of it.
    /// </summary>
    private async ValueTask<bool> AcceptEarlyInputAsync()
    {
        var client = _client!;
        if (!client.TryPeek(out var early))
        {
            return true;
        }

        var buffer = early.Buffer;
        client.Input.AdvanceTo(buffer.Start);
        if (buffer.IsEmpty && early.IsCompleted)
        {
            _record.Ended(SessionEnd.PeerClosedBeforeGreeting);
            return false;
        }

        // Empty and not completed: a graceful-close request woke the reader. No early input; the command loop
        // answers the close request after the banner.
        if (buffer.IsEmpty)
        {
            return true;
        }

        // Checked before the early-input decision: a header is no SMTP command, so neither a 554 nor the backend may
        // answer it as one (the backend has already been given the connection's own address).
        if (ProxyProtocolHeaderParser.StartsWithSignature(buffer))
        {
            _record.Metrics?.ProxyHeader(_listener.Name, ProxyHeaderOutcome.Unlisted);
            ProxyHeaderLog.Refused(_record.Logger, _clientEndPoint.Address, _clientEndPoint.Port, _listener.Name, _listener.ProxyHeaderFrom is null
                ? "this listener takes PROXY headers from no one (AcceptProxyHeaderFrom is empty)"
                : "not a listed balancer (AcceptProxyHeaderFrom), or a second header behind one");
            _record.Ended(SessionEnd.ProxyHeaderNotAccepted);
            return false;
        }

        if (!_advertise)
        {
            SessionLog.EarlyInputRefused(_record.Logger, _clientEndPoint.Address, _clientEndPoint.Port, _listener.Name, Printable.Of(buffer, 128));
            _record.Metrics?.EarlyInput(_listener.Name, accepted: false);
            client.Write(ProxyReplies.SynchronizationError);
            await client.FinalFlushAsync();
            _record.Ended(SessionEnd.InputBeforeGreeting);
            return false;
        }

        _record.Early = EarlyPipeUse.Used;
        _record.Metrics?.EarlyInput(_listener.Name, accepted: true);
        return true;
    }

    /// <summary>Before the client is waited for: every reply the backend owes it is relayed. False once the session is over.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    async ValueTask<bool> IDownstreamOwner.SettleAsync()
    {
        if (_relay!.Awaiting > 0)
        {
            await _relay.DrainAsync();
        }

        return !_over && !_relay.BackendClosing;
    }

    /// <summary>The backend once every reply it owed was relayed (settling saw to that), while it is not closing.</summary>
    UpstreamChannel? IDownstreamOwner.IdleUpstream =>
        !_over && _relay is { HasBackend: true, Awaiting: 0, BackendClosing: false } relay && !relay.Backend.IsClosed ? relay.Backend : null;

    async ValueTask ISessionPolicy.RunCommandsAsync(CancellationToken closeRequested, CancellationToken stopCutOff)
    {
        var client = _client!;
        var relay = _relay!;
        while (!_over && !relay.BackendClosing)
        {
            var stopping = closeRequested.IsCancellationRequested || stopCutOff.IsCancellationRequested;
            if (stopping && !relay.InTransaction)
            {
                await relay.LocalReplyAsync(ProxyReplies.ShuttingDown);
                _record.Ended(SessionEnd.Shutdown);
                return;
            }

            if (stopCutOff.IsCancellationRequested)
            {
                // A transaction still open at the cut-off (its message not begun, or pipelined commands not yet
                // answered): what is owed goes first, then the backend is left without an end of data.
                await AbandonForStopAsync();
                return;
            }

            var read = await client.ReadCommandAsync();
            if (read.Status == CommandReadStatus.Woken)
            {
                continue;
            }

            if (read.Status == CommandReadStatus.Closed)
            {
                // Mid-message: a reset makes sure the backend never takes a half message for a whole one.
                relay.Backend.AbortOnClose |= relay.InTransaction;
                return;
            }

            if (read.Status != CommandReadStatus.Command)
            {
                await relay.LocalReplyAsync(read.Refusal);
                continue;
            }

            var command = SmtpCommandParser.Parse(read.Line);
            if (command.HasControlByte)
            {
                // Postfix stops reading the line at a NUL (it is a C string there): what the proxy classified is not
                // what the backend would run, so the line never reaches it.
                client.Consume();
                await relay.LocalReplyAsync(ProxyReplies.ControlCharacterInCommand);
                continue;
            }

            if (relay.NeedEhlo && command.Verb is not (SmtpVerb.Ehlo or SmtpVerb.Helo or SmtpVerb.Quit or SmtpVerb.Noop or SmtpVerb.Rset))
            {
                // RFC 3207 §4.2: after the handshake the client starts over with EHLO.
                client.Consume();
                await relay.LocalReplyAsync(ProxyReplies.SendEhloFirst);
                continue;
            }

            if (command.Verb != SmtpVerb.Bdat && (_chunksAsData is not null || _chunksRefusal is not null))
            {
                _chunksRefusal = null;
                if (_chunksAsData is not null)
                {
                    // The backend is inside DATA: any line now would be message text there.
                    client.Consume();
                    await BetweenConvertedChunksAsync(command.Verb);
                    continue;
                }
            }

            if (command.Verb == SmtpVerb.Mail && !relay.BackendChunking && DeclaresBinaryMime(read.Line))
            {
                // RFC 3030 §3: binary content needs BDAT all the way, and the backend has no CHUNKING.
                client.Consume();
                await relay.LocalReplyAsync(ProxyReplies.BinaryMimeUnavailable);
                continue;
            }

            if (ForwardsLine(command, read.MoreBuffered))
            {
                relay.Backend.Write(read.LineWithEnding);
            }

            client.Consume();
            await ExecuteAsync(command, read.MoreBuffered);
        }
    }

    /// <summary>Whether the command line goes to the backend as it is; decided before the client's buffer moves on.</summary>
    private bool ForwardsLine(SmtpCommand command, bool moreBuffered) => command.Verb switch
    {
        SmtpVerb.StartTls or SmtpVerb.Xclient or SmtpVerb.Xforward => false,
        SmtpVerb.Data => !moreBuffered,
        SmtpVerb.Bdat => _relay!.BackendChunking && !command.IsMalformedBdat,
        SmtpVerb.Auth => _relay!.AuthAllowed,
        _ => true,
    };

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask ExecuteAsync(SmtpCommand command, bool moreBuffered)
    {
        var relay = _relay!;
        switch (command.Verb)
        {
            case SmtpVerb.Ehlo:
                await relay.SendAndDrainAsync(ReplyFor.Ehlo);
                break;
            case SmtpVerb.Helo:
                await relay.SendAndDrainAsync(ReplyFor.Helo);
                break;
            case SmtpVerb.Mail:
                await relay.SendAsync(ReplyFor.Mail, SmtpVerb.Mail);
                break;
            case SmtpVerb.Rcpt:
                await relay.SendAsync(ReplyFor.Rcpt, SmtpVerb.Rcpt);
                break;
            case SmtpVerb.Rset:
                await relay.SendAsync(ReplyFor.Rset, SmtpVerb.Rset);
                break;
            case SmtpVerb.Quit:
                await relay.SendAndDrainAsync(ReplyFor.Quit);
                await _client!.FlushAsync();
                _over = true;
                break;
            case SmtpVerb.Data:
                await DataAsync(moreBuffered);
                break;
            case SmtpVerb.Bdat:
                await BdatAsync(command);
                break;
            case SmtpVerb.Auth when !relay.AuthAllowed:
                // Credentials must not cross the client's link in cleartext (also when the link to the backend is TLS).
                await relay.LocalReplyAsync(ProxyReplies.AuthNeedsTls);
                break;
            case SmtpVerb.Auth:
                await AuthAsync();
                break;
            case SmtpVerb.StartTls:
                await StartTlsAsync();
                break;
            case SmtpVerb.Xclient:
            case SmtpVerb.Xforward:
                await relay.LocalReplyAsync(ProxyReplies.NotAuthorized);
                break;
            default:
                await relay.SendAsync(ReplyFor.Other, command.Verb);
                break;
        }
    }

    /// <summary>
    /// DATA: the backend's 354 first, then the body verbatim up to the exact &lt;CRLF&gt;.&lt;CRLF&gt;, then the
    /// backend's verdict. A client that sends the body before the 354 is out of sync (RFC 2920 §3.1) and is cut off
    /// before anything reaches the backend.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask DataAsync(bool moreBuffered)
    {
        var relay = _relay!;
        if (moreBuffered)
        {
            await relay.LocalReplyAsync(ProxyReplies.SynchronizationError);
            _record.Ended(SessionEnd.DataBefore354);
            _over = true;
            return;
        }

        await relay.SendAndDrainAsync(ReplyFor.Data);
        if (relay.LastCode != ReplyCode.StartMailInput || relay.BackendClosing)
        {
            return;
        }

        relay.InTransaction = true;
        switch (await MessageBodyReader.ReadAsync(_client!, new UpstreamBodySink(relay.Backend), _options.Timeouts.Data, _record))
        {
            case MessageBodyOutcome.Complete:
                await VerdictAsync();
                break;
            case MessageBodyOutcome.Stopped:
                await AbandonForStopAsync();
                break;
            case MessageBodyOutcome.Refused:
                await relay.LocalReplyAsync(ProxyReplies.BareLineEndingInData);
                _record.Ended(SessionEnd.BareLineEndingInData);
                relay.InTransaction = false;
                _over = true;
                break;
            default:
                _record.Ended(SessionEnd.PeerLostDuringData);
                relay.Backend.AbortOnClose = true;
                _over = true;
                break;
        }
    }

    /// <summary>
    /// BDAT (RFC 3030): the chunk is exactly the announced number of octets and is relayed as such, never scanned for
    /// lines. To a backend without CHUNKING the message goes as DATA (<see cref="ConvertedBdatAsync"/>).
    /// </summary>
    private async ValueTask BdatAsync(SmtpCommand command)
    {
        var relay = _relay!;
        if (command.IsMalformedBdat)
        {
            // Without a size there is no telling where the chunk ends: the rest of the input cannot be trusted.
            await relay.LocalReplyAsync(ProxyReplies.BdatSyntax);
            _record.Ended(SessionEnd.MalformedBdat);
            _over = true;
            return;
        }

        if (!relay.BackendChunking)
        {
            await ConvertedBdatAsync(command);
            return;
        }

        relay.InTransaction = true;
        if (!await ReadChunkAsync(command.BdatChunkSize, RelayToBackendAsync, _relay!.Backend.FlushAsync))
        {
            return;
        }

        if (command.BdatLast)
        {
            await VerdictAsync();
        }
        else
        {
            await relay.SendAsync(ReplyFor.BdatChunk, SmtpVerb.Bdat);
        }
    }

    /// <summary>
    /// The backend has the end of the message: its verdict, relayed. Marked while awaited, so that an abort in the
    /// meantime is logged as the possible duplicate it is.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask VerdictAsync()
    {
        _record.AwaitingVerdict = true;
        await _relay!.SendAndDrainAsync(ReplyFor.EndOfMessage);
        _record.AwaitingVerdict = false;

        // The verdict is what the client waits for: it leaves now, not with the reply to a command pipelined behind
        // the message (QUIT, the next MAIL), which would hold it for one more backend round trip.
        await _client!.FlushAsync();
    }

    /// <summary>
    /// The stop's cut-off came before the message ended: the backend is reset when the session closes, so it never
    /// sees an end of data, and the client gets 421 4.3.2 after every reply it is owed.
    /// </summary>
    private async ValueTask AbandonForStopAsync()
    {
        var relay = _relay!;
        relay.Backend.AbortOnClose = true;
        await relay.LocalReplyAsync(ProxyReplies.ShuttingDown);
        relay.InTransaction = false;
        _record.Ended(SessionEnd.ShutdownMessageAbandoned);
        _over = true;
    }

    /// <summary>
    /// BDAT toward a backend without CHUNKING: the message's first chunk sends DATA (once every earlier reply is in, as
    /// RFC 2920 wants before DATA) and, after the backend's 354, every chunk is streamed dot-stuffed
    /// (<see cref="ChunksAsData"/>, DATA's line-ending rule: a bare CR, LF or NUL refuses the message). A chunk before
    /// the last is answered here, "250 2.0.0 n octets received"; BDAT LAST sends the end of data and is answered with
    /// the backend's verdict, never with a 250 of ours. A refused DATA answers the chunk, and the message's later
    /// chunks, with the backend's own words.
    /// </summary>
    private async ValueTask ConvertedBdatAsync(SmtpCommand command)
    {
        var relay = _relay!;
        var size = command.BdatChunkSize;
        if (_chunksRefusal is { } refused)
        {
            if (await ReadChunkAsync(size, take: null))
            {
                await relay.LocalReplyAsync(refused);
            }

            _chunksRefusal = command.BdatLast ? null : refused;
            return;
        }

        if (_chunksAsData is null)
        {
            SmtpCommandWriter.WriteData(relay.Backend.Output);
            await relay.SendAndDrainAsync(ReplyFor.DataForChunks);
            if (relay.BackendClosing)
            {
                return;
            }

            if (relay.LastCode != ReplyCode.StartMailInput)
            {
                await RefusedDataForChunksAsync(command, relay.HeldReply!);
                return;
            }

            relay.InTransaction = true;
            _chunksAsData = new ChunksAsData(relay.Backend, _record);
        }

        var message = _chunksAsData;
        if (!await ReadChunkAsync(size, message.WriteAsync))
        {
            // The backend is inside DATA: only a reset makes sure it never takes the part for a whole message.
            relay.Backend.AbortOnClose = true;
            _chunksAsData = null;
            return;
        }

        if (!message.Refused && !command.BdatLast)
        {
            await relay.LocalReplyAsync(ProxyReplies.ChunkReceived(size));
            return;
        }

        _chunksAsData = null;
        if (message.Refused || !await message.EndAsync())
        {
            // The backend connection is already reset: it never sees an end of data for this message.
            await relay.LocalReplyAsync(ProxyReplies.BareLineEndingInData);
            _record.Ended(SessionEnd.BareLineEndingInData);
            relay.InTransaction = false;
            _over = true;
            return;
        }

        await VerdictAsync();
    }

    /// <summary>
    /// The backend answered the proxy's DATA with something other than 354. A refusal (4xx, 5xx) is the chunk's answer
    /// once the chunk is read and dropped, and that of the message's later chunks; anything else (a 250 to DATA) is out
    /// of step and must never read as acceptance: 451, and the session ends.
    /// </summary>
    private async ValueTask RefusedDataForChunksAsync(SmtpCommand command, byte[] reply)
    {
        var relay = _relay!;
        if (!ReplyCode.IsTransientNegative(relay.LastCode) && !ReplyCode.IsPermanentNegative(relay.LastCode))
        {
            SessionLog.UpstreamUnavailable(_record.Logger, "backend", "B", _listener.BackendEndPoint, _clientEndPoint.Address, _clientEndPoint.Port,
                _listener.Name, $"answered DATA with {relay.LastCode}");
            relay.Backend.AbortOnClose = true;
            await relay.LocalReplyAsync(ProxyReplies.DataOutOfSequence);
            _record.EndedUnavailable(UpstreamFailure.MalformedReply);
            _over = true;
            return;
        }

        if (await ReadChunkAsync(command.BdatChunkSize, take: null))
        {
            await relay.LocalReplyAsync(reply);
            _chunksRefusal = command.BdatLast ? null : reply;
        }
    }

    /// <summary>
    /// A command between the chunks of a message the backend receives as DATA: nothing may reach the backend, which
    /// would take it for message text. QUIT and NOOP are answered here (QUIT resets the backend connection, so the
    /// unfinished message is never delivered); RSET abandons the message the same way and, the backend being lost to
    /// the session, closes with 421; anything else is 503.
    /// </summary>
    private async ValueTask BetweenConvertedChunksAsync(SmtpVerb verb)
    {
        var relay = _relay!;
        switch (verb)
        {
            case SmtpVerb.Noop:
                await relay.LocalReplyAsync(ProxyReplies.Ok);
                return;
            case SmtpVerb.Quit:
                relay.Backend.AbortOnClose = true;
                await relay.LocalReplyAsync(ProxyReplies.Bye);
                _record.Ended(SessionEnd.Quit);
                break;
            case SmtpVerb.Rset:
                relay.Backend.AbortOnClose = true;
                await relay.LocalReplyAsync(ProxyReplies.ChunkedMessageAbandoned);
                _record.Ended(SessionEnd.ChunkedMessageAbandoned);
                break;
            default:
                await relay.LocalReplyAsync(ProxyReplies.ChunkedMessageInProgress);
                return;
        }

        _chunksAsData = null;
        relay.InTransaction = false;
        await _client!.FlushAsync();
        _over = true;
    }

    /// <summary>
    /// Reads exactly <paramref name="size"/> octets from the client into <paramref name="take"/> (nowhere when null);
    /// false when the session ended mid-chunk, each way of ending handled here.
    /// </summary>
    private async ValueTask<bool> ReadChunkAsync(long size, Func<ReadOnlySequence<byte>, ValueTask>? take, Func<ValueTask>? awaitingMore = null)
    {
        switch (await BdatChunkReader.ReadAsync(_client!, size, _options.Timeouts.Data, _record, take, awaitingMore))
        {
            case BdatChunkOutcome.Complete:
                return true;
            case BdatChunkOutcome.Stopped:
                // The chunk's last octet would end a BDAT LAST message: past the cut-off none of it goes on.
                await AbandonForStopAsync();
                return false;
            case BdatChunkOutcome.PeerLost:
                _record.Ended(SessionEnd.PeerLostDuringBdat);
                _relay!.Backend.AbortOnClose = true;
                _over = true;
                return false;
            default:
                return false;
        }
    }

    private async ValueTask RelayToBackendAsync(ReadOnlySequence<byte> piece)
    {
        // Not a write per piece: a client's stream of small whole chunks would cost a system call each
        // (ReplyBacklogTests). A chunk still coming in is handed on before each wait (ReadChunkAsync's awaitingMore).
        var backend = _relay!.Backend;
        backend.Write(piece);
        await backend.FlushWhenFullAsync();
    }

    private static bool DeclaresBinaryMime(in ReadOnlySequence<byte> line)
        => line.IsSingleSegment ? MailParameters.DeclaresBinaryMime(line.FirstSpan) : MailParameters.DeclaresBinaryMime(line.ToArray());

    /// <summary>AUTH passes through (<see cref="SaslExchange"/>); the backend's 334 challenges go to the client.</summary>
    private async ValueTask AuthAsync()
    {
        var relay = _relay!;
        await relay.SendAndDrainAsync(ReplyFor.Other);
        var last = await SaslExchange.RelayAsync(_client!, relay.Backend, relay.LastCode, async () =>
        {
            await relay.SendAndDrainAsync(ReplyFor.Other);
            return relay.LastCode;
        });
        if (last is null)
        {
            _record.Ended(SessionEnd.PeerClosedDuringAuth);
            _over = true;
            return;
        }

        _authenticated |= last == ReplyCode.AuthSucceeded;
    }

    /// <summary>
    /// STARTTLS (RFC 3207). The go-ahead is ours, since the backend's own TLS is not what the client sees; then the
    /// client starts over with EHLO.
    /// </summary>
    private async ValueTask StartTlsAsync()
    {
        var relay = _relay!;
        var client = _client!;
        var refusal = client.StartTlsRefusal(_listener.Certificates, relay.InTransaction, _authenticated);
        if (!refusal.IsEmpty)
        {
            await relay.LocalReplyAsync(refusal);
            return;
        }

        await relay.DrainAsync();
        if (!await client.StartTlsAsync(_listener.Certificates!))
        {
            _over = true;
            return;
        }

        relay.NeedEhlo = true;
    }

    /// <summary>
    /// The backend failed: every reply it owed the client becomes 421 (RFC 5321 §3.8). A backend that closed the idle
    /// session with its own 421 (its timeout, a stop) has that relayed instead, as it would reach a direct client.
    /// </summary>
    void ISessionPolicy.AnswerUpstreamFailure(UpstreamUnavailableException ex)
    {
        if (ex.LastWord is { } lastWord)
        {
            SessionLog.UpstreamClosedIdleSession(_record.Logger, "backend", "B", _listener.BackendEndPoint, _clientEndPoint.Address, _clientEndPoint.Port,
                _listener.Name, ex.Message);
            _record.Ended(SessionEnd.UpstreamClosedWith421);
            _client!.Write(lastWord);
            return;
        }

        SessionLog.UpstreamUnavailable(_record.Logger, "backend", "B", _listener.BackendEndPoint, _clientEndPoint.Address, _clientEndPoint.Port, _listener.Name, ex.Message);
        _record.EndedUnavailable(ex.Failure);
        _relay!.FailAwaiting();
    }

    ValueTask ISessionPolicy.CloseUpstreamAsync(bool abort)
    {
        if (_relay?.HasBackend != true)
        {
            return ValueTask.CompletedTask;
        }

        _relay.Backend.AbortOnClose |= abort;
        return _relay.Backend.CloseAsync();
    }

    /// <summary>The PP2_TYPE_SSL facts for a PROXY v2 header ("TLSv1.3" spelling, as OpenSSL and HAProxy write it).</summary>
    private Protocol.ClientIdentity.ProxyTlsInfo? ProxyTlsInfoOrNull()
    {
        if (_client!.Tls is not { } tls)
        {
            return null;
        }

        var stream = tls.Stream;
        return new Protocol.ClientIdentity.ProxyTlsInfo(Tls.TlsDescription.VersionName(stream.SslProtocol, "TLSv"), stream.NegotiatedCipherSuite.ToString());
    }

    private static IPEndPoint Normalize(IPEndPoint endPoint)
        => endPoint.Address.IsIPv4MappedToIPv6 ? new IPEndPoint(endPoint.Address.MapToIPv4(), endPoint.Port) : endPoint;
}
