using System.Net;
using EarlyPipeProxy.Sessions.EhloCache;
using Microsoft.Extensions.Time.Testing;
using static EarlyPipeProxy.Sessions.Tests.EhloCache.EhloCacheFixtures;

namespace EarlyPipeProxy.Sessions.Tests.EhloCache;

/// <summary>The cache holds at most MaxEntries; a new server learnt into a full cache pushes out the one used least recently.</summary>
public sealed class EhloCacheBoundTests
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2025, 3, 1, 12, 0, 0, TimeSpan.Zero));

    private static EhloCacheKey Server(int n) => Key(remote: IPAddress.Parse("198.51.100." + n));

    [Fact]
    public async Task A_full_cache_evicts_the_entry_used_least_recently_not_the_oldest_learnt()
    {
        await using var cache = Sessions.EhloCache.EhloCache.Open(new EhloCacheOptions { MaxEntries = 3 }, _time);
        for (var n = 1; n <= 3; n++)
        {
            Assert.Equal(EhloLearnOutcome.Stored, cache.Learn(Server(n), 220, EarlyReply()));
        }

        // Server 1, learnt first, is used again; server 2 is now the one used least recently.
        Assert.True(cache.TryGetFresh(Server(1), out _));

        Assert.Equal(EhloLearnOutcome.Stored, cache.Learn(Server(4), 220, EarlyReply()));

        Assert.Equal(3, cache.Count);
        Assert.False(cache.TryGetFresh(Server(2), out _));
        Assert.True(cache.TryGetFresh(Server(1), out _));
        Assert.True(cache.TryGetFresh(Server(3), out _));
        Assert.True(cache.TryGetFresh(Server(4), out _));
        Assert.Equal(1, cache.Counters.Flushes(EhloCacheFlushReason.Evicted));
    }

    [Fact]
    public async Task Confirming_or_rewriting_a_known_server_never_evicts()
    {
        await using var cache = Sessions.EhloCache.EhloCache.Open(new EhloCacheOptions { MaxEntries = 2 }, _time);
        cache.Learn(Server(1), 220, EarlyReply());
        cache.Learn(Server(2), 220, EarlyReply());

        Assert.Equal(EhloLearnOutcome.Confirmed, cache.Learn(Server(1), 220, EarlyReply()));
        Assert.Equal(EhloLearnOutcome.Rewritten, cache.Learn(Server(2), 220, EarlyReply(size: "1000")));

        Assert.Equal(2, cache.Count);
        Assert.Equal(0, cache.Counters.Flushes(EhloCacheFlushReason.Evicted));
    }

    [Fact]
    public async Task Ten_thousand_servers_through_a_cache_of_a_hundred_leave_a_hundred()
    {
        await using var cache = Sessions.EhloCache.EhloCache.Open(new EhloCacheOptions { MaxEntries = 100 }, _time);
        for (var n = 0; n < 10_000; n++)
        {
            cache.Learn(Key(remote: new IPAddress(BitConverter.GetBytes(0x0A000000 + n))), 220, EarlyReply());
        }

        Assert.Equal(100, cache.Count);
        Assert.Equal(9_900, cache.Counters.Flushes(EhloCacheFlushReason.Evicted));
    }

    [Fact]
    public void MaxEntries_below_one_is_refused_at_start()
    {
        var ex = Assert.Throws<InvalidOperationException>(() => Sessions.EhloCache.EhloCache.Open(new EhloCacheOptions { MaxEntries = 0 }, _time));
        Assert.Contains("EhloCache:MaxEntries", ex.Message, StringComparison.Ordinal);
    }
}
