namespace EarlyPipeProxy.Sessions.Lifetime;

/// <summary>
/// The one clock of a session: each wait (for the peer, the upstream, a handshake) runs in a scope that cancels it
/// after its own timeout, on <see cref="TimeProvider"/> so tests can move time. A scope's token is also cancelled
/// when the session is aborted; <see cref="IsTimeout"/> tells the two apart in catch filters.
/// </summary>
public sealed class SessionDeadline : IDisposable
{
    private static readonly TimeSpan LongestWait = TimeSpan.FromMilliseconds(uint.MaxValue - 1);

    private readonly TimeProvider _time;
    private readonly CancellationToken _aborted;
    private CancellationTokenSource _source;
    private CancellationTokenRegistration _abortRegistration;

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
        if (_source.IsCancellationRequested && !_aborted.IsCancellationRequested)
        {
            // A wait that timed out and was handled (an opportunistic TLS handshake, a polite QUIT) must not leave
            // every later wait of the session cancelled before it starts.
            Dispose();
            _source = Create();
        }

        if (timeout > TimeSpan.Zero)
        {
            // A big message earns a long transfer time at the minimum data rate; past CancelAfter's range (49 days)
            // it would throw rather than wait.
            _source.CancelAfter(timeout < LongestWait ? timeout : LongestWait);
        }
        else
        {
            _source.Cancel();
        }

        return new Scope(this, _source.Token);
    }

    /// <summary>True when <paramref name="exception"/> is a scope's timeout rather than the session's abort.</summary>
    public bool IsTimeout(Exception exception) => exception is OperationCanceledException && !_aborted.IsCancellationRequested;

    public void Dispose()
    {
        _abortRegistration.Dispose();
        _source.Dispose();
    }

    private void End(CancellationTokenSource source)
    {
        if (ReferenceEquals(source, _source) && !source.IsCancellationRequested)
        {
            source.CancelAfter(Timeout.InfiniteTimeSpan);
        }
    }

    private CancellationTokenSource Create()
    {
        var source = new CancellationTokenSource(Timeout.InfiniteTimeSpan, _time);
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

        internal Scope(SessionDeadline owner, CancellationToken token)
        {
            _owner = owner;
            _source = owner._source;
            Token = token;
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
