using System.Text;
using EarlyPipeProxy.Host.Control;
using Microsoft.Extensions.Time.Testing;
using static EarlyPipeProxy.Sessions.Tests.EhloCache.EhloCacheFixtures;

namespace EarlyPipeProxy.Sessions.Tests.Host;

/// <summary>`earlypipe cache show` prints a remote's own text: it must not reach the operator's terminal raw.</summary>
public sealed class CacheEntryFormatterTests
{
    [Fact]
    public async Task Control_characters_in_a_cached_reply_are_shown_escaped()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2025, 3, 1, 12, 0, 0, TimeSpan.Zero));
        await using var cache = Sessions.EhloCache.EhloCache.Open(new Sessions.EhloCache.EhloCacheOptions(), time);
        // An ANSI escape sequence (ESC [ 2 J clears the screen) and a BEL in the greeting, as a hostile remote could send.
        var reply = EarlyReply();
        reply[0] = "250-mx.example.org \u001b[2J\u0007Hello";
        cache.Learn(Key(), 220, reply);
        Assert.True(cache.TryGetFresh(Key(), out var entry));
        var text = new StringBuilder();

        CacheEntryFormatter.AppendReply(text, entry);

        var shown = text.ToString();
        Assert.DoesNotContain('\u001b', shown);
        Assert.DoesNotContain('\u0007', shown);
        Assert.Contains("250-mx.example.org \\x1b[2J\\x07Hello", shown, StringComparison.Ordinal);
        Assert.Contains("    250 CHUNKING", shown, StringComparison.Ordinal);
    }
}
