using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using System.Security.Authentication;
using EarlyPipeProxy.Protocol.Capabilities;
using EarlyPipeProxy.Protocol.Lines;
using EarlyPipeProxy.Protocol.Replies;
using EarlyPipeProxy.Sessions.Configuration;
using EarlyPipeProxy.Sessions.Lifetime;
using EarlyPipeProxy.Sessions.Logging;
using EarlyPipeProxy.Sessions.Telemetry;
using EarlyPipeProxy.Sessions.Tls;

namespace EarlyPipeProxy.Sessions.Downstream;

/// <summary>
/// The connection a session serves (the client inbound, the sender outbound): reading commands and data with their
/// limits and timeouts, writing and flushing replies, and STARTTLS, which swaps the pipes underneath. Both directions
/// use it as it is; what the session does with a command is its own policy.
/// </summary>
/// <remarks>
/// The pipelining rule lives here once: input already buffered is read at once; only when there is none does the
/// session settle (its callback delivers every reply it owes) and the replies leave in one flush before the wait
/// (RFC 2920 §3.1). So replies go out in as few segments as possible and neither side waits for the other.
/// A peer that always has input buffered would never let that wait come: past
/// <see cref="ListenerLimits.MaxUnflushedReplyBytes"/> the replies are flushed before more input is taken, and that
/// flush waits (under the command timeout) while the peer does not read.
/// <para>
/// A request's time is counted over the waits for it, not per wait (Postfix's smtpd_per_request_deadline): a command
/// line has <see cref="SessionTimeouts.Command"/> in all, however it trickles in; a message body or BDAT chunk has
/// <see cref="SessionTimeouts.Data"/> plus 1/<see cref="SessionTimeouts.MinDataRate"/> s per octet received
/// (smtpd_min_data_rate). The proxy's own work between the waits (relaying replies) is not the peer's time.
/// </para>
/// </remarks>
public sealed class DownstreamChannel : IAsyncDisposable
{
    private readonly SessionDeadline _deadline;
    private readonly SessionTimeouts _timeouts;
    private readonly ListenerLimits _limits;
    private readonly SessionRecord _record;
    private readonly IDownstreamOwner _owner;
    private readonly long _sessionStart;
    private IDuplexPipe _pipe;
    private PipeWriter _output;
    private TlsDuplexPipe? _tls;
    private SequencePosition _lineEnd;
    private bool _holdingLine;
    private long _unflushedBytes;
    private CancellationToken _stopCutOff;
    private TimeSpan _requestLeft;
    private long _dataOctetsCredited;

    /// <param name="owner">The session, settled before every wait (an interface, not a delegate: one object fewer per connection).</param>
    public DownstreamChannel(IDuplexPipe pipe, SessionDeadline deadline, SessionTimeouts timeouts, ListenerLimits limits, SessionRecord record,
        IDownstreamOwner owner)
    {
        _pipe = pipe;
        _deadline = deadline;
        _timeouts = timeouts;
        _limits = limits;
        _record = record;
        _owner = owner;
        _sessionStart = deadline.Now;
        _output = Traced(pipe.Output);
    }

    /// <summary>
    /// Whether the peer's waits are the round trips the session saves (inbound: the client's). Outbound the proxy's
    /// waits for the remote count instead (<see cref="Upstream.UpstreamChannel.CountsRoundTrips"/>).
    /// </summary>
    public bool CountsRoundTrips { get; init; }

    /// <summary>The current pipes: the connection's, or the TLS ones after a handshake.</summary>
    public IDuplexPipe Pipe => _pipe;

    public PipeReader Input => _pipe.Input;

    /// <summary>The current pipes' output, through the session's trace when it has one.</summary>
    public PipeWriter Output => _output;

    /// <summary>The TLS layer once a handshake succeeded; null in cleartext.</summary>
    public TlsDuplexPipe? Tls => _tls;

    /// <summary>True when settling said the session is over; a read then returns woken instead of waiting.</summary>
    public bool SettledOver { get; private set; }

    /// <summary>
    /// Wakes a read waiting for the peer when <paramref name="closeRequested"/> fires (a graceful stop), so the session
    /// can answer it: the read comes back cancelled. It is the current pipes that are woken, the TLS ones once a
    /// handshake swapped them in; cancelling the connection's own pipe under TLS would end the TLS layer's reading, and
    /// the session would take it for the peer hanging up.
    /// </summary>
    public CancellationTokenRegistration WakeOnClose(CancellationToken closeRequested) =>
        closeRequested.Register(static state => Volatile.Read(ref ((DownstreamChannel)state!)._pipe).Input.CancelPendingRead(), this);

    /// <summary>
    /// A graceful stop's cut-off (see <see cref="SessionGuard"/>): from then on <see cref="PastStopCutOff"/> is true, and a
    /// read waiting for the peer is woken, as for <see cref="WakeOnClose"/>.
    /// </summary>
    public CancellationTokenRegistration WakeAtStopCutOff(CancellationToken cutOff)
    {
        _stopCutOff = cutOff;
        return WakeOnClose(cutOff);
    }

    /// <summary>
    /// The graceful stop's cut-off has passed: a message that has not ended is abandoned rather than waited for, so that
    /// no end of data goes upstream without time left for its verdict.
    /// </summary>
    public bool PastStopCutOff => _stopCutOff.IsCancellationRequested;

    /// <summary>
    /// Input, buffered or awaited. Before it waits, the session settles and everything owed is flushed. A cancelled
    /// read (a close request, or settling ended the session) comes back already released, with
    /// <see cref="ReadResult.IsCanceled"/> set and an empty buffer.
    /// </summary>
    public ValueTask<ReadResult> ReadAsync(TimeSpan timeout)
    {
        _requestLeft = timeout;
        return ReadWithinRequestAsync();
    }

    /// <summary>
    /// Starts the transfer of a message body or a BDAT chunk, read with <see cref="ReadDataAsync"/>: the peer has
    /// <paramref name="timeout"/> (<see cref="SessionTimeouts.Data"/>) for it, plus what every octet it sends earns at
    /// <see cref="SessionTimeouts.MinDataRate"/>.
    /// </summary>
    public void BeginData(TimeSpan timeout)
    {
        _requestLeft = timeout;
        _dataOctetsCredited = _record.BytesFromPeer;
    }

    /// <summary>
    /// <see cref="ReadAsync"/> within the transfer <see cref="BeginData"/> started. The octets credited are those the
    /// caller counted in <see cref="SessionRecord.BytesFromPeer"/> since, the count every reader of data keeps anyway.
    /// A transfer slower than the minimum rate runs out of time: the read is cancelled as a timeout.
    /// </summary>
    public ValueTask<ReadResult> ReadDataAsync()
    {
        var octets = _record.BytesFromPeer - _dataOctetsCredited;
        _dataOctetsCredited = _record.BytesFromPeer;
        _requestLeft += TimeSpan.FromTicks(octets * TimeSpan.TicksPerSecond / _timeouts.MinDataRate);
        return ReadWithinRequestAsync();
    }

    /// <summary>
    /// The next command line under the listener's limits (a longer one for AUTH with an initial response, RFC 4954 §4;
    /// <paramref name="sasl"/> for a SASL answer, which is never a command). Over-long lines are skipped here; a peer
    /// that closes is recorded as the session's end.
    /// </summary>
    // Pooled, like the other methods a relayed command suspends in (ReplyRelay.DrainAsync, UpstreamChannel.ReadReplyAsync, ...):
    // each command's wait would otherwise allocate its state machine box, and resume through Task continuations.
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<CommandRead> ReadCommandAsync(bool sasl = false)
    {
        var maxLength = sasl ? _limits.MaxAuthLineLength : _limits.MaxLineLength;
        var input = _pipe.Input;
        // Past the session's life the next wait is cut too (Timeouts:Session), however quick the commands.
        var sessionLeft = _timeouts.Session - _deadline.Elapsed(_sessionStart);
        _requestLeft = sessionLeft < _timeouts.Command ? sessionLeft : _timeouts.Command;
        while (true)
        {
            // ReadAsync written out: an idle session waits here, and one async frame fewer is memory saved per
            // idle connection.
            if (OverReplyLimit)
            {
                await FlushAsync();
            }

            if (!input.TryRead(out var result))
            {
                await PrepareToWaitAsync();

                // Nobody reads an upstream that owes nothing; while the peer is waited for, it is watched, so that
                // what it says then (its own 421, a close, a reply out of step) ends the session at once rather than
                // at the peer's next command. The watch is over before anything is sent upstream.
                var idle = SettledOver ? null : _owner.IdleUpstream;
                idle?.Watch(input);
                var upstreamSpoke = false;
                var waitStart = _deadline.Now;
                try
                {
                    using var scope = _deadline.Begin(_requestLeft);
                    result = await input.ReadAsync(scope.Token);
                }
                finally
                {
                    if (idle is not null)
                    {
                        upstreamSpoke = await idle.EndWatchAsync();
                    }
                }

                _requestLeft -= _deadline.Elapsed(waitStart);
                if (upstreamSpoke)
                {
                    input.AdvanceTo(result.Buffer.Start);
                    throw await idle!.ReadUnsolicitedAsync();
                }
            }

            result = Released(result);
            if (result.IsCanceled)
            {
                return new CommandRead(CommandReadStatus.Woken);
            }

            var buffer = result.Buffer;
            var reader = new SequenceReader<byte>(buffer);
            var status = SmtpLineReader.TryReadCommandLine(ref reader, maxLength, _limits.MaxAuthLineLength, out var line);
            switch (status)
            {
                case LineReadStatus.Incomplete:
                    _pipe.Input.AdvanceTo(buffer.Start, buffer.End);
                    if (result.IsCompleted)
                    {
                        _record.Ended(buffer.IsEmpty ? SessionEnd.PeerClosed : SessionEnd.PeerClosedMidCommand);
                        return new CommandRead(CommandReadStatus.Closed, midCommand: !buffer.IsEmpty);
                    }

                    continue;

                case LineReadStatus.TooLong:
                    _pipe.Input.AdvanceTo(buffer.Start);
                    return await SkipLineAsync();

                case LineReadStatus.BareLineEnding:
                    _pipe.Input.AdvanceTo(reader.Position);
                    return new CommandRead(CommandReadStatus.BareLineEnding);
            }

            _lineEnd = reader.Position;
            _holdingLine = true;
            _record.Commands += sasl ? 0 : 1;
            _record.Trace?.FromPeer(buffer.Slice(line.Start, reader.Position), sasl);
            _record.BytesFromPeer += buffer.Slice(line.Start, reader.Position).Length;
            return new CommandRead(CommandReadStatus.Command, line, buffer.Slice(line.Start, reader.Position), moreBuffered: !reader.End);
        }
    }

    /// <summary>Releases the line last returned by <see cref="ReadCommandAsync"/>.</summary>
    public void Consume()
    {
        if (_holdingLine)
        {
            _holdingLine = false;
            _pipe.Input.AdvanceTo(_lineEnd);
        }
    }

    /// <summary>
    /// Whether input is already there (Exim's check just before the banner), without waiting. Empty and not
    /// completed when nothing came. The caller releases what it looked at.
    /// </summary>
    public bool TryPeek(out ReadResult result) => _pipe.Input.TryRead(out result);

    public void Write(ReadOnlySpan<byte> reply)
    {
        Count(ReplyCode.Peek(reply));
        _output.Write(reply);
        _record.BytesToPeer += reply.Length;
        _unflushedBytes += reply.Length;
    }

    public void Write(in ReadOnlySequence<byte> reply)
    {
        Count(ReplyCode.Peek(reply));
        foreach (var segment in reply)
        {
            _output.Write(segment.Span);
        }

        _record.BytesToPeer += reply.Length;
        _unflushedBytes += reply.Length;
    }

    /// <summary>An EHLO reply as the session edited it.</summary>
    public void Write(EhloCapabilities capabilities)
    {
        ArgumentNullException.ThrowIfNull(capabilities);
        var before = _output.UnflushedBytes;
        capabilities.WriteTo(_output);
        var written = _output.UnflushedBytes - before;
        _record.BytesToPeer += written;
        _unflushedBytes += written;
        Count(ReplyCode.Ok);
    }

    /// <summary>Flushes what was written; a peer that does not read for the command timeout is gone.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask FlushAsync()
    {
        if (_unflushedBytes == 0)
        {
            return;
        }

        _unflushedBytes = 0;
        FlushResult result;
        using (var scope = _deadline.Begin(_timeouts.Command))
        {
            result = await _output.FlushAsync(scope.Token);
        }

        if (result.IsCompleted)
        {
            throw new IOException("the peer stopped reading");
        }
    }

    /// <summary>The session's last words: flushed best effort, bounded on their own.</summary>
    public ValueTask FinalFlushAsync()
    {
        _unflushedBytes = 0;
        return Transport.FinalFlush.TryAsync(_output);
    }

    /// <summary>
    /// The refusal of a STARTTLS command, or empty when it may go ahead: no certificate, TLS already up, inside a
    /// transaction, or after AUTH (the upstream never sees our STARTTLS, so it would not forget a login made in
    /// cleartext, which RFC 3207 §4.2 requires).
    /// </summary>
    public ReadOnlySpan<byte> StartTlsRefusal(ServerCertificateProvider? certificates, bool inTransaction, bool authenticated) =>
        certificates is null ? ProxyReplies.StartTlsUnavailable
        : _tls is not null ? ProxyReplies.TlsAlreadyActive
        : inTransaction ? ProxyReplies.TransactionInProgress
        : authenticated ? ProxyReplies.StartTlsAfterAuth
        : default;

    /// <summary>
    /// STARTTLS after <see cref="StartTlsRefusal"/> said yes and every owed reply was delivered. What the peer sent
    /// after the command, before it could have seen our go-ahead, is not TLS: it is discarded and logged, never
    /// executed after the handshake (CVE-2011-0411). Anything after the 220 belongs to the handshake. False (and the
    /// failure logged) when the handshake fails: the session is over.
    /// </summary>
    public async ValueTask<bool> StartTlsAsync(ServerCertificateProvider certificates)
    {
        if (_pipe.Input.TryRead(out var leftover))
        {
            if (!leftover.Buffer.IsEmpty)
            {
                SessionLog.InputAfterStartTls(_record.Logger, _record.Peer.Address, _record.Peer.Port, _record.Listener, leftover.Buffer.Length);
            }

            _pipe.Input.AdvanceTo(leftover.Buffer.End);
        }

        Write(ProxyReplies.StartTlsGoAhead);
        await FlushAsync();
        return await HandshakeAsync(certificates, "starttls");
    }

    /// <summary>The server side of a handshake over the current pipes (TLS-on-connect, or after the go-ahead).</summary>
    public async ValueTask<bool> HandshakeAsync(ServerCertificateProvider certificates, string kind)
    {
        TlsDuplexPipe secured;
        bool resumed;
        try
        {
            using var scope = _deadline.Begin(_timeouts.TlsHandshake);
            (secured, resumed) = await ServerTlsHandshake.RunAsync(_pipe, certificates, scope.Token);
        }
        catch (Exception ex) when (ex is AuthenticationException or IOException || _deadline.IsTimeout(ex))
        {
            SessionLog.PeerTlsHandshakeFailed(_record.Logger, _record.Peer.Address, _record.Peer.Port, _record.Listener, ex.Message);
            _record.Ended(SessionEnd.TlsHandshakeFailed);
            return false;
        }

        _tls = secured;
        Volatile.Write(ref _pipe, secured);
        _output = Traced(secured.Output);
        _record.PeerTlsEstablished(TlsDescription.Describe(secured.Stream), resumed, kind);
        return true;
    }

    public async ValueTask DisposeAsync()
    {
        if (_tls is not null)
        {
            await _tls.DisposeAsync();
        }
    }

    /// <summary>
    /// What happens before every wait for the peer (RFC 2920's flush rule, once): the session delivers what it owes,
    /// the replies leave in one flush, and the wait counts as a round trip. Completes at once in the usual case.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask PrepareToWaitAsync()
    {
        if (!await _owner.SettleAsync())
        {
            SettledOver = true;
            _pipe.Input.CancelPendingRead();
        }

        await FlushAsync();
        if (CountsRoundTrips)
        {
            // The peer now waits for what it was sent, or sends what it has: one round trip either way.
            _record.RoundTrips.Waited();
        }
    }

    /// <summary>
    /// Flushes when the replies written since the last flush passed the limit: for a session that relays a long run
    /// of replies at once (a drained RFC 2920 group), so that the limit holds within the run, not only between reads.
    /// </summary>
    public ValueTask FlushIfOverLimitAsync() => OverReplyLimit ? FlushAsync() : ValueTask.CompletedTask;

    /// <summary>
    /// Whether the replies written since the last flush passed <see cref="ListenerLimits.MaxUnflushedReplyBytes"/>:
    /// counted as they are written, so the check before every read is a field, not a call into the pipe.
    /// </summary>
    private bool OverReplyLimit => _unflushedBytes > _limits.MaxUnflushedReplyBytes;

    /// <summary>Input, buffered or awaited within what is left of the request's time; each wait spends from it.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<ReadResult> ReadWithinRequestAsync()
    {
        var input = _pipe.Input;
        if (OverReplyLimit)
        {
            await FlushAsync();
        }

        if (!input.TryRead(out var result))
        {
            await PrepareToWaitAsync();
            var waitStart = _deadline.Now;
            using (var scope = _deadline.Begin(_requestLeft))
            {
                result = await input.ReadAsync(scope.Token);
            }

            _requestLeft -= _deadline.Elapsed(waitStart);
        }

        return Released(result);
    }

    private PipeWriter Traced(PipeWriter output) => _record.Trace is { } trace ? trace.ToPeer(output) : output;

    /// <summary>A cancelled read is released at once and comes back empty, so no caller can forget to.</summary>
    private ReadResult Released(ReadResult result)
    {
        if (!result.IsCanceled)
        {
            return result;
        }

        _pipe.Input.AdvanceTo(result.Buffer.Start);
        return new ReadResult(default, isCanceled: true, isCompleted: false);
    }

    private void Count(int code)
    {
        if (CountsRoundTrips)
        {
            _record.RoundTrips.Replied(code);
        }

        _record.RepliedToPeer(code);
    }

    private async ValueTask<CommandRead> SkipLineAsync()
    {
        while (true)
        {
            // The rest of the over-long line is still the same request, on the same time.
            var result = await ReadWithinRequestAsync();
            if (result.IsCanceled)
            {
                return new CommandRead(CommandReadStatus.Woken);
            }

            var buffer = result.Buffer;
            var reader = new SequenceReader<byte>(buffer);
            var found = SmtpLineReader.TrySkipLine(ref reader);
            _pipe.Input.AdvanceTo(reader.Position);
            if (found)
            {
                return new CommandRead(CommandReadStatus.TooLong);
            }

            if (result.IsCompleted)
            {
                _record.Ended(SessionEnd.PeerClosedMidCommand);
                return new CommandRead(CommandReadStatus.Closed, midCommand: true);
            }
        }
    }
}
