using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using EarlyPipeProxy.Sessions.Configuration;
using EarlyPipeProxy.Sessions.Downstream;
using EarlyPipeProxy.Sessions.Lifetime;
using EarlyPipeProxy.Sessions.Telemetry;
using EarlyPipeProxy.Sessions.Upstream;

namespace EarlyPipeProxy.Sessions.Tests.TestSupport;

/// <summary>
/// A <see cref="DownstreamChannel"/> over in-memory pipes, with the peer's ends for the test. Pipes never pause a
/// writer, so a test can send megabytes without reading concurrently. Settling is counted and signalled: a signal
/// means the channel found no input and is about to wait.
/// </summary>
internal sealed class DownstreamPair : IAsyncDisposable, IDownstreamOwner
{
    public static readonly PipeOptions Unbounded = new(pauseWriterThreshold: 0, resumeWriterThreshold: 0);

    private readonly Pipe _toChannel = new(Unbounded);
    private readonly Pipe _fromChannel;
    private readonly SemaphoreSlim _settled = new(0);
    private int _settles;

    public DownstreamPair(ListenerLimits? limits = null, SessionTimeouts? timeouts = null, TimeProvider? time = null,
        string direction = Direction.Inbound, PipeOptions? toPeer = null, CancellationToken aborted = default)
    {
        // A pipe toward the peer with a pause threshold is a peer that can stop reading: the channel's flushes wait.
        _fromChannel = new Pipe(toPeer ?? Unbounded);
        Deadline = new SessionDeadline(aborted, time);
        Record = new SessionRecord(direction, "test", new IPEndPoint(IPAddress.Loopback, 40000), new IPEndPoint(IPAddress.Loopback, 25), Logger, null);
        Channel = new DownstreamChannel(new DuplexPipe(_toChannel.Reader, _fromChannel.Writer), Deadline, timeouts ?? new SessionTimeouts(),
            limits ?? new ListenerLimits(), Record, this);
    }

    public ListLogger Logger { get; } = new();

    public SessionDeadline Deadline { get; }

    public SessionRecord Record { get; }

    public DownstreamChannel Channel { get; }

    public int Settles => Volatile.Read(ref _settles);

    /// <summary>What settling returns: false says the session is over.</summary>
    public bool SettleResult { get; set; } = true;

    /// <summary>The upstream the channel watches while it waits for a command (none unless a test sets one).</summary>
    public UpstreamChannel? IdleUpstream { get; set; }

    /// <summary>Runs inside every settle: the session delivering what it owes.</summary>
    public Action<DownstreamChannel>? OnSettle { get; set; }

    /// <summary>What the channel flushed toward the peer.</summary>
    public PipeReader PeerInput => _fromChannel.Reader;

    /// <summary>The peer's writer toward the channel.</summary>
    public PipeWriter PeerOutput => _toChannel.Writer;

    public async Task SendAsync(string text)
    {
        if (text.Length > 0)
        {
            await _toChannel.Writer.WriteAsync(Wire.Bytes(text));
        }
    }

    /// <summary>Sends <paramref name="rest"/> once the channel settles (it found no input and is about to wait).</summary>
    public Task SendWhenWaitingAsync(string rest) => Task.Run(async () =>
    {
        Assert.True(await _settled.WaitAsync(Wire.Patience), "the channel never waited for the rest of the input");
        await SendAsync(rest);
    });

    /// <summary>Waits for the next settle.</summary>
    public async Task WaitForSettleAsync() => Assert.True(await _settled.WaitAsync(Wire.Patience), "the channel never settled");

    /// <summary>The peer closes its sending side.</summary>
    public void ClosePeer() => _toChannel.Writer.Complete();

    /// <summary>Everything flushed toward the peer so far, without waiting.</summary>
    public string TakeFlushed()
    {
        if (!PeerInput.TryRead(out var result))
        {
            return string.Empty;
        }

        var text = Wire.Text(result.Buffer.ToArray());
        PeerInput.AdvanceTo(result.Buffer.End);
        return text;
    }

    public async ValueTask DisposeAsync()
    {
        await Channel.DisposeAsync();
        Deadline.Dispose();
        _settled.Dispose();
    }

    public ValueTask<bool> SettleAsync()
    {
        Interlocked.Increment(ref _settles);
        OnSettle?.Invoke(Channel);
        _settled.Release();
        return ValueTask.FromResult(SettleResult);
    }
}
