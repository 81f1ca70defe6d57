using Microsoft.Extensions.Time.Testing;

namespace EarlyPipeProxy.Sessions.Tests.TestSupport;

/// <summary>
/// A <see cref="FakeTimeProvider"/> that also says when a timeout was armed (a timer given a finite due time): a test
/// moves time only once the code under test is really waiting, so no advance falls between two of its waits.
/// </summary>
internal sealed class ArmedTimeProvider : TimeProvider, IDisposable
{
    private readonly FakeTimeProvider _inner = new();
    private readonly SemaphoreSlim _armed = new(0);

    public override long TimestampFrequency => _inner.TimestampFrequency;

    public override long GetTimestamp() => _inner.GetTimestamp();

    public override DateTimeOffset GetUtcNow() => _inner.GetUtcNow();

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = new ArmedTimer(this, _inner.CreateTimer(callback, state, dueTime, period));
        Armed(dueTime);
        return timer;
    }

    public void Advance(TimeSpan delta) => _inner.Advance(delta);

    /// <summary>Waits until a timeout is armed (the code under test began a wait).</summary>
    public async Task WaitArmedAsync() => Assert.True(await _armed.WaitAsync(Wire.Patience), "no wait with a timeout began");

    public void Dispose() => _armed.Dispose();

    private void Armed(TimeSpan dueTime)
    {
        if (dueTime != Timeout.InfiniteTimeSpan)
        {
            _armed.Release();
        }
    }

    private sealed class ArmedTimer(ArmedTimeProvider owner, ITimer inner) : ITimer
    {
        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            var changed = inner.Change(dueTime, period);
            owner.Armed(dueTime);
            return changed;
        }

        public void Dispose() => inner.Dispose();

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
