using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using EarlyPipeProxy.Sessions.Configuration;
using EarlyPipeProxy.Sessions.Lifetime;
using EarlyPipeProxy.Sessions.Telemetry;
using EarlyPipeProxy.Sessions.Upstream;

namespace EarlyPipeProxy.Sessions.Tests.TestSupport;

/// <summary>
/// An <see cref="UpstreamChannel"/> over in-memory pipes, with the upstream server's ends for the test: nothing
/// answers unless the test sends it.
/// </summary>
internal sealed class UpstreamPair : IUpstreamConnector, IAsyncDisposable
{
    private readonly Pipe _toUpstream = new(DownstreamPair.Unbounded);
    private readonly Pipe _fromUpstream = new(DownstreamPair.Unbounded);
    private UpstreamChannel? _channel;
    private int _aborts;
    private int _closes;

    private UpstreamPair(SessionDeadline deadline, SessionRecord record)
    {
        Deadline = deadline;
        Record = record;
    }

    public SessionDeadline Deadline { get; }

    public SessionRecord Record { get; }

    public UpstreamChannel Channel => _channel!;

    /// <summary>What the channel sent toward the upstream.</summary>
    public PipeReader UpstreamInput => _toUpstream.Reader;

    public int Aborts => Volatile.Read(ref _aborts);

    public int Closes => Volatile.Read(ref _closes);

    /// <summary>A connected channel; <paramref name="deadline"/> defaults to one of its own, on <paramref name="time"/>.</summary>
    public static async Task<UpstreamPair> ConnectAsync(SessionTimeouts? timeouts = null, ListenerLimits? limits = null, TimeProvider? time = null,
        SessionDeadline? deadline = null, SessionRecord? record = null, CancellationToken aborted = default)
    {
        deadline ??= new SessionDeadline(aborted, time);
        record ??= new SessionRecord(Direction.Outbound, "test", new IPEndPoint(IPAddress.Loopback, 40000), new IPEndPoint(IPAddress.Loopback, 25),
            new ListLogger(), null);
        var pair = new UpstreamPair(deadline, record);
        pair._channel = await UpstreamChannel.ConnectAsync(pair, new IPEndPoint(IPAddress.Loopback, 25), null, false, default, deadline,
            timeouts ?? new SessionTimeouts(), limits ?? new ListenerLimits(), record, countsRoundTrips: false);
        return pair;
    }

    public ValueTask<UpstreamConnection> ConnectAsync(IPEndPoint endPoint, CancellationToken cancellationToken) =>
        ValueTask.FromResult(new UpstreamConnection(new DuplexPipe(_fromUpstream.Reader, _toUpstream.Writer), endPoint, CloseAsync));

    /// <summary>The upstream server speaks.</summary>
    public async Task SendAsync(string text)
    {
        if (text.Length > 0)
        {
            await _fromUpstream.Writer.WriteAsync(Wire.Bytes(text));
        }
    }

    /// <summary>The upstream server stops reading (its socket is gone).</summary>
    public void StopReading() => _toUpstream.Reader.Complete();

    /// <summary>The upstream server closes its sending side.</summary>
    public async Task CloseUpstreamSideAsync() => await _fromUpstream.Writer.CompleteAsync();

    /// <summary>Everything the channel flushed toward the upstream so far, without waiting.</summary>
    public string TakeReceived()
    {
        if (!_toUpstream.Reader.TryRead(out var result))
        {
            return string.Empty;
        }

        var text = Wire.Text(result.Buffer.ToArray());
        _toUpstream.Reader.AdvanceTo(result.Buffer.End);
        return text;
    }

    public async ValueTask DisposeAsync()
    {
        if (_channel is not null)
        {
            await _channel.DisposeAsync();
        }

        Deadline.Dispose();
    }

    private ValueTask CloseAsync(bool abort)
    {
        Interlocked.Increment(ref abort ? ref _aborts : ref _closes);
        _toUpstream.Writer.Complete();
        _fromUpstream.Reader.Complete();
        return ValueTask.CompletedTask;
    }
}
