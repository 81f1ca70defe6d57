namespace EarlyPipeProxy.Sessions.Lifetime;

/// <summary>
/// The one clock of a session: each wait (for the peer, the upstream, a handshake) runs in a scope that cancels it
/// after its own timeout, on <see cref="TimeProvider"/> so tests can move time. A scope's token is also cancelled
/// when the session is aborted; <see cref="IsTimeout"/> tells the two apart in catch filters.
/// </summary>
/// <remarks>
/// A session begins and ends dozens of scopes per message, each far shorter than its timeout. Re-arming a timer for
/// each (and disarming it after) took the runtime's timer lock twice per wait. So a scope only writes when it is due,
/// and the session's one timer is moved only when a scope is due <em>earlier</em> than the timer fires: when the
/// timer fires and the scope open then is not due yet, it is re-armed for the rest; when none is open, it stays
/// unarmed. A scope still times out exactly when it is due, never later and never earlier.
/// </remarks>
public sealed class SessionDeadline : IDisposable
{
    private static readonly TimeSpan LongestWait = TimeSpan.FromMilliseconds(uint.MaxValue - 1);

    // No scope open (_due), or the timer not armed (_armedFor).
    private const long Never = long.MaxValue;

    private readonly TimeProvider _time;
    private readonly CancellationToken _aborted;
    private readonly Lock _gate = new();
    private CancellationTokenSource _source;
    private CancellationTokenRegistration _abortRegistration;
    private ITimer? _timer;

    // In the clock's timestamps: when the open scope times out, and when the timer fires.
    private long _due = Never;
    private long _armedFor = Never;

    // The timer found the open scope due and is cancelling its source: the next scope gets a new one.
    private bool _expired;
    private bool _disposed;

    public SessionDeadline(CancellationToken aborted, TimeProvider? time = null)
    {
        _time = time ?? TimeProvider.System;
        _aborted = aborted;
        _source = Create();
    }

    /// <summary>The session's own abort (listener stopping hard); never a timeout.</summary>
    public CancellationToken Aborted => _aborted;

    /// <summary>The session clock's timestamp now, for <see cref="Elapsed"/>.</summary>
    public long Now => _time.GetTimestamp();

    /// <summary>The time since <paramref name="since"/>, a timestamp taken from <see cref="Now"/>.</summary>
    public TimeSpan Elapsed(long since) => _time.GetElapsedTime(since);

    /// <summary>
    /// Starts a wait of at most <paramref name="timeout"/>; dispose the scope when the wait is over. A timeout of zero
    /// or less has passed already (what is left of a request's time can be used up): the scope starts cancelled.
    /// </summary>
    public Scope Begin(TimeSpan timeout)
    {
        CancellationTokenSource source;
        lock (_gate)
        {
            if ((_expired || _source.IsCancellationRequested) && !_aborted.IsCancellationRequested)
            {
                // A wait that timed out and was handled (an opportunistic TLS handshake, a polite QUIT) must not leave
                // every later wait of the session cancelled before it starts.
                _abortRegistration.Dispose();
                _source.Dispose();
                _source = Create();
                _expired = false;
            }

            source = _source;
            if (timeout > TimeSpan.Zero)
            {
                // A big message earns a long transfer time at the minimum data rate; past a timer's range (49 days)
                // it would throw rather than wait.
                var wait = timeout < LongestWait ? timeout : LongestWait;
                var now = _time.GetTimestamp();
                _due = now + ToTimestamp(wait);
                if (_due < _armedFor)
                {
                    _armedFor = _due;
                    Arm(wait);
                }

                return new Scope(this, source);
            }

            _due = Never;
        }

        source.Cancel();
        return new Scope(this, source);
    }

    /// <summary>True when <paramref name="exception"/> is a scope's timeout rather than the session's abort.</summary>
    public bool IsTimeout(Exception exception) => exception is OperationCanceledException && !_aborted.IsCancellationRequested;

    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
            _timer?.Dispose();
            _abortRegistration.Dispose();
            _source.Dispose();
        }
    }

    private void End(CancellationTokenSource source)
    {
        lock (_gate)
        {
            if (ReferenceEquals(source, _source))
            {
                // The timer, if armed, stays so: it fires once for nothing rather than being moved twice per wait.
                _due = Never;
            }
        }
    }

    private void Arm(TimeSpan wait)
    {
        if (_timer is null)
        {
            // No execution context to carry (the callback only looks at this object's fields), nor to keep alive.
            var suppress = !ExecutionContext.IsFlowSuppressed();
            if (suppress)
            {
                ExecutionContext.SuppressFlow();
            }

            try
            {
                _timer = _time.CreateTimer(static state => ((SessionDeadline)state!).OnTimer(), this, wait, Timeout.InfiniteTimeSpan);
            }
            finally
            {
                if (suppress)
                {
                    ExecutionContext.RestoreFlow();
                }
            }

            return;
        }

        _timer.Change(wait, Timeout.InfiniteTimeSpan);
    }

    private void OnTimer()
    {
        CancellationTokenSource due;
        lock (_gate)
        {
            _armedFor = Never;
            if (_disposed || _due == Never)
            {
                return;
            }

            var now = _time.GetTimestamp();
            if (now < _due)
            {
                // The open scope began after the one the timer was armed for: it has the rest of its time.
                _armedFor = _due;
                var rest = _time.GetElapsedTime(now, _due);
                Arm(rest > TimeSpan.Zero ? rest : TimeSpan.FromTicks(1));
                return;
            }

            _due = Never;
            _expired = true;
            due = _source;
        }

        // Outside the lock: the cancellation runs the wait's continuation, which may begin the next scope.
        try
        {
            due.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The session ended in the meantime.
        }
    }

    /// <summary><paramref name="wait"/> in the clock's timestamp units, exactly (the fake clock's are ticks).</summary>
    private long ToTimestamp(TimeSpan wait) =>
        _time.TimestampFrequency == TimeSpan.TicksPerSecond
            ? wait.Ticks
            : (long)((Int128)wait.Ticks * _time.TimestampFrequency / TimeSpan.TicksPerSecond);

    private CancellationTokenSource Create()
    {
        var source = new CancellationTokenSource();
        if (_aborted.CanBeCanceled)
        {
            // Registered once per source: a session that times out and goes on gets a new source, rarely.
            _abortRegistration = _aborted.UnsafeRegister(static state => ((CancellationTokenSource)state!).Cancel(), source);
        }

        return source;
    }

    /// <summary>One wait: its token, and the end of its timeout when disposed.</summary>
    public readonly struct Scope : IDisposable
    {
        private readonly SessionDeadline? _owner;
        private readonly CancellationTokenSource? _source;

        internal Scope(SessionDeadline owner, CancellationTokenSource source)
        {
            _owner = owner;
            _source = source;
            Token = source.Token;
        }

        public CancellationToken Token { get; }

        public void Dispose()
        {
            if (_source is not null)
            {
                _owner!.End(_source);
            }
        }
    }
}
