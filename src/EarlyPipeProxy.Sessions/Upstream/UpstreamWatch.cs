using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using System.Threading.Tasks.Sources;

namespace EarlyPipeProxy.Sessions.Upstream;

/// <summary>
/// The read of an upstream connection's input while the session waits for its peer and the upstream owes nothing
/// (<see cref="UpstreamConnection.Watch"/>). The first byte or the close wakes the peer's read; ending the watch hands
/// the input back with nothing consumed and no read under way. One per connection, reused for every wait: a wait costs
/// no allocation (the pipe's continuation is the one delegate made with it).
/// </summary>
internal sealed class UpstreamWatch : IValueTaskSource<bool>
{
    // Watching: the first input wakes the peer's read. Woke: it did. Ending: the session took the input back; the
    // watch wakes nobody any more (a read of the peer after this one must never be cancelled by it).
    private const int Watching = 1;
    private const int Woke = 2;
    private const int Ending = 3;

    private readonly Action _onRead;
    private ManualResetValueTaskSourceCore<bool> _core;
    private ConfiguredValueTaskAwaitable<ReadResult>.ConfiguredValueTaskAwaiter _read;
    private PipeReader? _input;
    private PipeReader? _wake;
    private int _state;
    private bool _cancelled;

    public UpstreamWatch() => _onRead = OnRead;

    /// <summary>Reads <paramref name="input"/>; what comes (or its end) cancels the pending read of <paramref name="wake"/>.</summary>
    public void Start(PipeReader input, PipeReader wake)
    {
        _core.Reset();
        _input = input;
        _wake = wake;
        _cancelled = false;
        _state = Watching;
#pragma warning disable CA2012 // The read's awaiter is kept to be completed once, in OnRead: this object is its one consumer.
        _read = input.ReadAsync().ConfigureAwait(false).GetAwaiter();
#pragma warning restore CA2012
        if (_read.IsCompleted)
        {
            // Already there (said between the last reply read and now): the peer's read will come back woken at once.
            OnRead();
        }
        else
        {
            _read.UnsafeOnCompleted(_onRead);
        }
    }

    /// <summary>
    /// Ends the watch: completes at once, or when the read cancelled here comes back. True when the upstream spoke or
    /// closed while watched, or is found to have done so now.
    /// </summary>
    public ValueTask<bool> EndAsync()
    {
        Volatile.Write(ref _state, Ending);
        if (_core.GetStatus(_core.Version) == ValueTaskSourceStatus.Pending)
        {
            _cancelled = true;
            _input!.CancelPendingRead();
        }

        return new ValueTask<bool>(this, _core.Version);
    }

    bool IValueTaskSource<bool>.GetResult(short token)
    {
        var spoke = _core.GetResult(token);
        var input = _input!;
        _input = null;
        _wake = null;
        if (!_cancelled)
        {
            return spoke;
        }

        // The read may have completed on its own just before the cancel, which then waits for the next read: take
        // it now (and with it anything that came since), so that the session's next read of the upstream is a real one.
        try
        {
            if (input.TryRead(out var late))
            {
                spoke |= !late.Buffer.IsEmpty || late.IsCompleted;
                input.AdvanceTo(late.Buffer.Start);
            }
        }
        catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException)
        {
            spoke = true;
        }

        return spoke;
    }

    ValueTaskSourceStatus IValueTaskSource<bool>.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource<bool>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);

    private void OnRead()
    {
        bool spoke;
        try
        {
            var result = _read.GetResult();
            spoke = !result.Buffer.IsEmpty || result.IsCompleted;
            _input!.AdvanceTo(result.Buffer.Start);
        }
        catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException)
        {
            // A reset: the reply read that follows meets it again and reports it.
            spoke = true;
        }

        _read = default;
        if (spoke && Interlocked.CompareExchange(ref _state, Woke, Watching) == Watching)
        {
            _wake!.CancelPendingRead();
        }

        _core.SetResult(spoke);
    }
}
