using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Net;
using System.Net.Security;
using System.Runtime.CompilerServices;
using EarlyPipeProxy.Protocol.Replies;
using EarlyPipeProxy.Sessions.Configuration;
using EarlyPipeProxy.Sessions.Lifetime;
using EarlyPipeProxy.Sessions.Telemetry;

namespace EarlyPipeProxy.Sessions.Upstream;

/// <summary>
/// A session's side of its upstream connection: writes, flushes and reply reads, each under the session's deadline
/// with its own timeout, a timeout becoming <see cref="UpstreamUnavailableException"/> (the session answers 421);
/// the polite QUIT and the abort; and the upstream's reply times for the metrics. Both directions use it as it is.
/// </summary>
public sealed class UpstreamChannel : IAsyncDisposable
{
    /// <summary>How much relayed body <see cref="FlushWhenFullAsync"/> lets gather before it writes.</summary>
    public const int StreamingFlushOctets = 64 * 1024;

    // A polite end is worth a short wait, never a long one: the peer already has its answer.
    private static readonly TimeSpan QuitBound = TimeSpan.FromSeconds(5);

    // The rest of a reply the upstream began while it owed nothing: a server that closes with 421 writes it whole.
    private static readonly TimeSpan UnsolicitedBound = TimeSpan.FromSeconds(5);

    private readonly UpstreamConnection _connection;
    private readonly SessionDeadline _deadline;
    private readonly SessionTimeouts _timeouts;
    private readonly int _maxReplyLineLength;
    private readonly SessionRecord _record;
    private long _flushedAt;
    private bool _closed;

    private UpstreamChannel(UpstreamConnection connection, SessionDeadline deadline, SessionTimeouts timeouts, ListenerLimits limits, SessionRecord record)
    {
        _connection = connection;
        _deadline = deadline;
        _timeouts = timeouts;
        _maxReplyLineLength = limits.MaxReplyLineLength;
        _record = record;
        _flushedAt = Stopwatch.GetTimestamp();
    }

    /// <summary>
    /// Whether the proxy's waits for this upstream are the round trips the session saves (outbound: the proxy is the
    /// client whose round trips early pipelining removes). Inbound it is the client's waits that count.
    /// </summary>
    public bool CountsRoundTrips { get; init; }

    public PipeWriter Output => _connection.Output;

    public UpstreamConnection Connection => _connection;

    /// <summary>
    /// Set when the connection must end with a reset rather than politely: a message is half sent, and the upstream
    /// must never take it for a whole one.
    /// </summary>
    public bool AbortOnClose { get; set; }

    /// <summary>True once the connection was closed or aborted.</summary>
    public bool IsClosed => _closed;

    /// <summary>
    /// Connects under the connect timeout; with <paramref name="firstFlight"/> the bytes leave with the handshake
    /// (see <see cref="IUpstreamConnector"/>). With <paramref name="transparentSource"/> the connection is made from that
    /// address instead (<see cref="IUpstreamConnector.ConnectTransparentAsync"/>), without a flight.
    /// </summary>
    public static async ValueTask<UpstreamChannel> ConnectAsync(
        IUpstreamConnector connector, IPEndPoint endPoint, IPAddress? source, bool fastOpen, ReadOnlyMemory<byte> firstFlight,
        SessionDeadline deadline, SessionTimeouts timeouts, ListenerLimits limits, SessionRecord record, bool countsRoundTrips,
        IPEndPoint? transparentSource = null)
    {
        ArgumentNullException.ThrowIfNull(connector);
        ArgumentNullException.ThrowIfNull(deadline);
        ArgumentNullException.ThrowIfNull(timeouts);
        ArgumentNullException.ThrowIfNull(record);
        var started = Stopwatch.GetTimestamp();
        UpstreamConnection connection;
        try
        {
            using var scope = deadline.Begin(timeouts.BackendConnect);
            connection = transparentSource is null
                ? await connector.ConnectAsync(endPoint, source, fastOpen, firstFlight, scope.Token)
                : await connector.ConnectTransparentAsync(endPoint, transparentSource, scope.Token);
        }
        catch (OperationCanceledException ex) when (deadline.IsTimeout(ex))
        {
            throw new UpstreamUnavailableException(UpstreamFailure.Unreachable, $"no connection to {endPoint} within {timeouts.BackendConnect}", ex);
        }

        record.Metrics?.UpstreamConnected(record.Listener, record.Direction, Stopwatch.GetElapsedTime(started));
        if (record.Trace is { } trace)
        {
            // The first flight left with the connect, before the trace could see it.
            connection.Trace = trace;
            trace.WrittenToUpstream(firstFlight.Span);
        }

        var channel = new UpstreamChannel(connection, deadline, timeouts, limits, record) { CountsRoundTrips = countsRoundTrips };
        if (countsRoundTrips)
        {
            // From here the upstream speaks (banner) or answers the flight: the session waits for it.
            record.RoundTrips.Waited();
        }

        return channel;
    }

    /// <summary>
    /// A session's side of a connection another session opened (outbound, a warm connection taken from the connection
    /// cache): the same connection, under this session's deadline, timeouts, record and trace. Nothing is waited for
    /// here; the remote was greeted long ago.
    /// </summary>
    public static UpstreamChannel Adopt(UpstreamConnection connection, SessionDeadline deadline, SessionTimeouts timeouts, ListenerLimits limits,
        SessionRecord record, bool countsRoundTrips)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(record);
        connection.Trace = record.Trace;
        return new UpstreamChannel(connection, deadline, timeouts, limits, record) { CountsRoundTrips = countsRoundTrips };
    }

    /// <summary>The kernel's smoothed round-trip time to the upstream, or null when unknown.</summary>
    public TimeSpan? RoundTripTime => _connection.RoundTripTime;

    public void Write(ReadOnlySpan<byte> bytes) => _connection.Output.Write(bytes);

    public void Write(in ReadOnlySequence<byte> bytes)
    {
        foreach (var segment in bytes)
        {
            _connection.Output.Write(segment.Span);
        }
    }

    /// <summary>
    /// Hands buffered bytes on once they reach <see cref="StreamingFlushOctets"/>: a large chunk streams through without
    /// being held whole, while a run of small pipelined chunks leaves in one write with the commands around it (the
    /// session's next flush takes the rest).
    /// </summary>
    public ValueTask FlushWhenFullAsync() =>
        _connection.Output.CanGetUnflushedBytes && _connection.Output.UnflushedBytes < StreamingFlushOctets ? ValueTask.CompletedTask : FlushAsync();

    /// <summary>Hands buffered bytes to the upstream; one that stops reading counts as gone after the reply timeout.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask FlushAsync()
    {
        try
        {
            using var scope = _deadline.Begin(_timeouts.BackendReply);
            await _connection.FlushAsync(scope.Token);
        }
        catch (OperationCanceledException ex) when (_deadline.IsTimeout(ex))
        {
            throw new UpstreamUnavailableException(UpstreamFailure.Timeout, $"did not take data within {_timeouts.BackendReply}", ex);
        }

        _flushedAt = Stopwatch.GetTimestamp();
        if (CountsRoundTrips)
        {
            _record.RoundTrips.Waited();
        }
    }

    /// <summary>
    /// The next whole reply, pointing into the input buffer until <see cref="ReleaseReply"/>: relaying it costs one copy.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<SmtpReply> ReadReplyAsync(TimeSpan timeout)
    {
        SmtpReply reply;
        try
        {
            using var scope = _deadline.Begin(timeout);
            reply = await _connection.ReadReplyAsync(_maxReplyLineLength, scope.Token);
        }
        catch (OperationCanceledException ex) when (_deadline.IsTimeout(ex))
        {
            throw new UpstreamUnavailableException(UpstreamFailure.Timeout, $"no reply within {timeout}", ex);
        }

        _record.Metrics?.UpstreamReplied(_record.Listener, _record.Direction, Stopwatch.GetElapsedTime(_flushedAt));
        if (CountsRoundTrips)
        {
            _record.RoundTrips.Replied(reply.Code);
        }

        return reply;
    }

    /// <summary>The next reply copied out of the buffer (and released), for a session that holds replies before relaying them.</summary>
    public async ValueTask<UpstreamReply> ReadReplyCopyAsync(TimeSpan timeout)
    {
        var reply = await ReadReplyAsync(timeout);
        var copy = new UpstreamReply(reply.Code, reply.Raw.ToArray());
        _connection.ReleaseReply();
        return copy;
    }

    /// <summary>
    /// Called when every reply owed has been read: a reply already there that no command asked for (a second reply to
    /// one command, one while nothing was owed) means the two sides no longer agree which reply answers which
    /// command. Relaying it would shift every later answer onto the wrong command, so the upstream is given up (the
    /// session answers 421 and resets it) instead.
    /// </summary>
    public void EnsureNothingUnsolicited()
    {
        if (_connection.HasUnreadInput())
        {
            throw new UpstreamUnavailableException(UpstreamFailure.MalformedReply, "sent a reply nothing was waiting for (out of step)");
        }
    }

    /// <summary>
    /// Watches the upstream while the session waits for its peer and the upstream owes nothing: its first byte or its
    /// close wakes the wait on <paramref name="peerInput"/>. See <see cref="UpstreamConnection.Watch"/>.
    /// </summary>
    public void Watch(PipeReader peerInput) => _connection.Watch(peerInput);

    /// <summary>Ends the watch before anything is sent; true when the upstream spoke or closed while it owed nothing.</summary>
    public ValueTask<bool> EndWatchAsync() => _connection.EndWatchAsync();

    /// <summary>
    /// What an upstream that owed nothing said (<see cref="EndWatchAsync"/> was true), as the failure that ends the
    /// session. Its own 421 (a server may close with 421 at any time, RFC 5321 §3.8; Postfix does on its timeout and
    /// when it stops) is kept to be relayed as the peer's answer; a close is a lost upstream; any other reply was asked
    /// for by no command: the two sides no longer agree which reply answers which command, and the upstream is given
    /// up rather than its reply taken for the answer to the peer's next command. A line left unfinished counts as such
    /// a reply once a short wait has not completed it.
    /// </summary>
    public async ValueTask<UpstreamUnavailableException> ReadUnsolicitedAsync()
    {
        SmtpReply reply;
        try
        {
            using var scope = _deadline.Begin(UnsolicitedBound);
            reply = await _connection.ReadReplyAsync(_maxReplyLineLength, scope.Token);
        }
        catch (OperationCanceledException ex) when (_deadline.IsTimeout(ex))
        {
            return new UpstreamUnavailableException(UpstreamFailure.MalformedReply, "sent an unfinished line while nothing was owed (out of step)", ex);
        }
        catch (UpstreamUnavailableException ex) when (ex.Failure == UpstreamFailure.Closed)
        {
            return new UpstreamUnavailableException(UpstreamFailure.Closed, "closed the connection while nothing was owed", ex);
        }
        catch (UpstreamUnavailableException ex)
        {
            return ex;
        }

        var closing = reply.Code == ReplyCode.ServiceNotAvailable;
        // For the log: the code and the final line's text, as printable and bounded as any peer input we quote.
        var text = reply.FinalLineText();
        var said = reply.Code + " " + Logging.Printable.Of(text.Length > 200 ? text[..200] : text);
        var lastWord = closing ? reply.Raw.ToArray() : null;
        _connection.ReleaseReply();
        return closing
            ? new UpstreamUnavailableException(UpstreamFailure.Closed, "closed the session while nothing was owed: " + said) { LastWord = lastWord }
            : new UpstreamUnavailableException(UpstreamFailure.MalformedReply, "sent a reply while nothing was owed (out of step): " + said);
    }

    /// <summary>Consumes the reply last returned by <see cref="ReadReplyAsync"/>.</summary>
    public void ReleaseReply() => _connection.ReleaseReply();

    /// <summary>
    /// The handshake under the TLS timeout: after the upstream's 220 to STARTTLS, or first thing on a TLS-on-connect
    /// connection (<paramref name="kind"/> "implicit", the session's TLS label).
    /// </summary>
    public async ValueTask UpgradeToTlsAsync(SslClientAuthenticationOptions options, string kind = "starttls")
    {
        try
        {
            using var scope = _deadline.Begin(_timeouts.TlsHandshake);
            await _connection.UpgradeToTlsAsync(options, scope.Token);
        }
        catch (OperationCanceledException ex) when (_deadline.IsTimeout(ex))
        {
            throw new UpstreamUnavailableException(UpstreamFailure.Timeout, "TLS handshake timed out", ex);
        }

        _record.UpstreamTlsEstablished(Tls.TlsDescription.Describe(_connection.TlsStream!), _connection.TlsResumed, kind);
    }

    /// <summary>
    /// QUIT, and with <paramref name="readReplies"/> its replies read briefly (<paramref name="owed"/> replies may come
    /// first), so the upstream closes on its own terms. A QUIT nobody waits for: the replies count as round trips no
    /// one spent. Best effort: the peer already has its answer.
    /// </summary>
    public async ValueTask QuitAsync(int owed, bool readReplies)
    {
        if (_closed)
        {
            return;
        }

        try
        {
            Protocol.Commands.SmtpCommandWriter.WriteQuit(_connection.Output);
            using var bound = new CancellationTokenSource(QuitBound);
            await _connection.FlushAsync(bound.Token);
            for (var replies = readReplies ? owed + 1 : 0; replies > 0; replies--)
            {
                var reply = await _connection.ReadReplyAsync(_maxReplyLineLength, bound.Token);
                var code = reply.Code;
                _connection.ReleaseReply();
                if (CountsRoundTrips)
                {
                    _record.RoundTrips.RepliedUnwaited(code);
                }

                if (code == ReplyCode.Closing)
                {
                    break;
                }
            }
        }
        catch (Exception ex) when (ex is UpstreamUnavailableException or OperationCanceledException or IOException or InvalidOperationException)
        {
            // The peer is done and has its answer; an upstream that does not say goodbye changes nothing.
        }
    }

    /// <summary>Drops the connection without another byte, so that a half-relayed message is never ended.</summary>
    public ValueTask AbortAsync()
    {
        _closed = true;
        return _connection.AbortAsync();
    }

    /// <summary>Ends the connection: a reset when <see cref="AbortOnClose"/> says so, politely otherwise.</summary>
    public ValueTask CloseAsync() => AbortOnClose ? AbortAsync() : DisposeAsync();

    public ValueTask DisposeAsync()
    {
        _closed = true;
        return _connection.DisposeAsync();
    }
}
