using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using EarlyPipeProxy.Protocol.ClientIdentity;
using EarlyPipeProxy.Sessions.Configuration;
using EarlyPipeProxy.Sessions.Inbound;

namespace EarlyPipeProxy.Sessions.Tests.Inbound;

/// <summary>
/// Client-name lookups stay off the thread pool and within their timeout whatever the C library does: the blocking
/// lookup is replaced by one that stalls until released, as libc does when the resolver does not answer.
/// </summary>
[Collection(ThreadPoolSensitive.Name)]
public sealed class ClientNameResolverTests : IDisposable
{
    // Generous: the suite runs on shared two-core machines with load averages far above 2. A thread pool starved by
    // blocked lookups is off by much more (the work queued behind them waits for the resolver's whole timeout).
    private static readonly TimeSpan Margin = TimeSpan.FromSeconds(2);

    // For a hundred lookups at once, more still. A pool-based lookup (Dns.GetHostEntryAsync on Linux) fails this by
    // tens of seconds: the pool adds about two threads a second, and each new one takes the next blocking lookup.
    private static readonly TimeSpan CrowdMargin = TimeSpan.FromSeconds(5);

    private readonly ManualResetEventSlim _release = new();
    private readonly ConcurrentBag<IPAddress> _started = [];
    private int _onPoolThreads;

    public void Dispose()
    {
        _release.Set();
        _release.Dispose();
    }

    private static async Task UntilAsync(Func<bool> condition, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), "waited 10 s for " + what);
            await Task.Delay(10);
        }
    }

    private static IPAddress Address(int i) => new([192, 0, 2, (byte)i]);

    private static ClientNameLookupOptions Bounds(int threads, int maxQueued) => new() { Threads = threads, MaxQueued = maxQueued };

    /// <summary>A lookup that blocks its thread until the test ends, like getnameinfo() toward a resolver that never answers.</summary>
    private ClientHostNames Stalled(IPAddress address)
    {
        _started.Add(address);
        if (Thread.CurrentThread.IsThreadPoolThread)
        {
            Interlocked.Increment(ref _onPoolThreads);
        }

        _release.Wait();
        return ClientHostNames.Verified("late.example");
    }

    [Fact]
    public async Task Resolve_AnsweringLookup_ReturnsItsNames()
    {
        var resolver = new ClientNameResolver(Bounds(2, 4), a => ClientHostNames.Unverified("ptr.example", failedForNow: false));

        var names = await resolver.ResolveAsync(Address(1), TimeSpan.FromSeconds(5), CancellationToken.None);

        Assert.Equal(new ClientHostNames("[UNAVAILABLE]", "ptr.example"), names);
    }

    [Fact]
    public async Task Resolve_StalledLookup_TempunavailWithinTheTimeout()
    {
        var resolver = new ClientNameResolver(Bounds(2, 4), Stalled);
        var timeout = TimeSpan.FromMilliseconds(300);
        var clock = Stopwatch.StartNew();

        var names = await resolver.ResolveAsync(Address(1), timeout, CancellationToken.None);

        Assert.Equal(ClientHostNames.LookupFailedForNow, names);
        Assert.InRange(clock.Elapsed, timeout - TimeSpan.FromMilliseconds(20), timeout + Margin);
    }

    [Fact]
    public async Task Resolve_HundredStalledLookups_TheThreadPoolKeepsWorking()
    {
        var resolver = new ClientNameResolver(Bounds(4, 32), Stalled);
        var timeout = TimeSpan.FromSeconds(2);
        var poolThreadsBefore = ThreadPool.ThreadCount;
        var clock = Stopwatch.StartNew();

        var lookups = Enumerable.Range(1, 100).Select(async i =>
        {
            var names = await resolver.ResolveAsync(Address(i), timeout, CancellationToken.None);
            return (names, clock.Elapsed);
        }).ToArray();
        var queuedIn = clock.Elapsed;

        // While all of them wait, work queued to the pool still runs at once, several times over.
        for (var i = 0; i < 5; i++)
        {
            var queued = Stopwatch.StartNew();
            var ran = new TaskCompletionSource<TimeSpan>(TaskCreationOptions.RunContinuationsAsynchronously);
            ThreadPool.UnsafeQueueUserWorkItem(_ => ran.TrySetResult(queued.Elapsed), null);
            var delay = await ran.Task.WaitAsync(TimeSpan.FromSeconds(10));
            Assert.True(delay < CrowdMargin, $"a pool work item waited {delay.TotalMilliseconds:F0} ms");
            await Task.Delay(50);
        }

        var answers = await Task.WhenAll(lookups);
        var slowest = answers.Max(a => a.Elapsed);

        Assert.All(answers, a => Assert.Equal(ClientHostNames.LookupFailedForNow, a.names));
        Assert.True(slowest < timeout + CrowdMargin,
            $"the slowest of 100 stalled lookups answered after {slowest.TotalMilliseconds:F0} ms against a {timeout.TotalMilliseconds} ms timeout (all asked within {queuedIn.TotalMilliseconds:F0} ms; fastest {answers.Min(a => a.Elapsed).TotalMilliseconds:F0} ms)");
        Assert.Equal(0, _onPoolThreads);
        Assert.Equal(4, _started.Count);
        Assert.Equal(4, resolver.ThreadCount);
        Assert.True(ThreadPool.ThreadCount - poolThreadsBefore < 10, $"pool threads {poolThreadsBefore} -> {ThreadPool.ThreadCount}");
    }

    [Fact]
    public async Task Resolve_AllThreadsStalledAndQueueFull_TempunavailAtOnce()
    {
        var resolver = new ClientNameResolver(Bounds(1, 1), Stalled);
        var longTimeout = TimeSpan.FromSeconds(30);
        var running = resolver.ResolveAsync(Address(1), longTimeout, CancellationToken.None);
        await UntilAsync(() => !_started.IsEmpty, "the first lookup to start");
        var queued = resolver.ResolveAsync(Address(2), longTimeout, CancellationToken.None);
        var clock = Stopwatch.StartNew();

        var refused = await resolver.ResolveAsync(Address(3), longTimeout, CancellationToken.None);

        Assert.Equal(ClientHostNames.LookupFailedForNow, refused);
        Assert.True(clock.Elapsed < Margin, $"took {clock.Elapsed.TotalMilliseconds:F0} ms");
        Assert.False(running.IsCompleted);
        Assert.False(queued.IsCompleted);
        _release.Set();
        Assert.Equal(ClientHostNames.Verified("late.example"), await running);
        Assert.Equal(ClientHostNames.Verified("late.example"), await queued);
    }

    [Fact]
    public async Task Resolve_QueuedLookupWhoseSessionStoppedWaiting_IsNeverStartedAndMakesRoom()
    {
        var resolver = new ClientNameResolver(Bounds(1, 1), Stalled);
        _ = resolver.ResolveAsync(Address(1), TimeSpan.FromSeconds(30), CancellationToken.None);
        await UntilAsync(() => !_started.IsEmpty, "the first lookup to start");

        // Queued behind the stalled one; its session gives up after 100 ms.
        Assert.Equal(ClientHostNames.LookupFailedForNow, await resolver.ResolveAsync(Address(2), TimeSpan.FromMilliseconds(100), CancellationToken.None));

        // The abandoned request no longer takes the queue's one place.
        var next = resolver.ResolveAsync(Address(3), TimeSpan.FromSeconds(30), CancellationToken.None);
        Assert.False(next.IsCompleted);
        _release.Set();
        Assert.Equal(ClientHostNames.Verified("late.example"), await next);
        Assert.DoesNotContain(Address(2), _started);
    }

    [Fact]
    public async Task Resolve_AbandonedLookupFinishesInTheBackground_ThreadServesTheNextOne()
    {
        var resolver = new ClientNameResolver(Bounds(1, 4), Stalled);

        Assert.Equal(ClientHostNames.LookupFailedForNow, await resolver.ResolveAsync(Address(1), TimeSpan.FromMilliseconds(100), CancellationToken.None));
        _release.Set();

        Assert.Equal(ClientHostNames.Verified("late.example"), await resolver.ResolveAsync(Address(2), TimeSpan.FromSeconds(10), CancellationToken.None));
        Assert.Equal(1, resolver.ThreadCount);
    }

    [Fact]
    public async Task Resolve_LookupThrows_TempunavailAndTheThreadLives()
    {
        var calls = 0;
        var resolver = new ClientNameResolver(Bounds(1, 4), a => ++calls == 1 ? throw new InvalidOperationException("boom") : ClientHostNames.None);

        Assert.Equal(ClientHostNames.LookupFailedForNow, await resolver.ResolveAsync(Address(1), TimeSpan.FromSeconds(10), CancellationToken.None));
        Assert.Equal(ClientHostNames.None, await resolver.ResolveAsync(Address(2), TimeSpan.FromSeconds(10), CancellationToken.None));
    }

    [Fact]
    public async Task Resolve_SessionEnds_Cancelled()
    {
        var resolver = new ClientNameResolver(Bounds(1, 4), Stalled);
        using var session = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => resolver.ResolveAsync(Address(1), TimeSpan.FromSeconds(30), session.Token));
    }

    [Fact]
    public async Task IdleThreads_End()
    {
        var resolver = new ClientNameResolver(Bounds(3, 4), a => ClientHostNames.None, idleThreadLifetime: TimeSpan.FromMilliseconds(100));

        await Task.WhenAll(Enumerable.Range(1, 6).Select(i => resolver.ResolveAsync(Address(i), TimeSpan.FromSeconds(10), CancellationToken.None)));
        Assert.InRange(resolver.ThreadCount, 0, 3);

        await UntilAsync(() => resolver.ThreadCount == 0, "the idle lookup threads to end");
    }

    [Fact]
    public void Constructor_NoThreads_Refused()
    {
        Assert.Throws<FormatException>(() => new ClientNameResolver(Bounds(0, 4)));
    }
}

/// <summary>Tests that measure the thread pool run alone, so that other tests' work does not count against them.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ThreadPoolSensitive
{
    public const string Name = "thread-pool sensitive";
}
