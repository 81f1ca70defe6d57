using System.Buffers;
using System.Net;
using System.Text;
using EarlyPipeProxy.Sessions.EhloCache;
using Microsoft.Extensions.Time.Testing;
using static EarlyPipeProxy.Sessions.Tests.EhloCache.EhloCacheFixtures;

namespace EarlyPipeProxy.Sessions.Tests.EhloCache;

/// <summary>The cache's rules, on a cache in memory (no file), with a fake clock.</summary>
public sealed class EhloCacheRulesTests : IAsyncLifetime
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2025, 3, 1, 12, 0, 0, TimeSpan.Zero));
    private Sessions.EhloCache.EhloCache _cache = null!;

    public Task InitializeAsync()
    {
        _cache = Sessions.EhloCache.EhloCache.Open(new EhloCacheOptions(), _time);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _cache.DisposeAsync();

    [Fact]
    public void Learnt_reply_is_returned_with_its_banner_lines_and_times()
    {
        Assert.Equal(EhloLearnOutcome.Stored, _cache.Learn(Key(), 220, EarlyReply()));

        Assert.True(_cache.TryGetFresh(Key(), out var entry));
        Assert.Equal(220, entry.BannerCode);
        Assert.Equal(EarlyReply(), entry.ReplyLines);
        Assert.Equal("mx.example.org Hello proxy [192.0.2.10]", entry.Greeting);
        Assert.Equal(["SIZE", "8BITMIME", "PIPELINING", "PIPECONNECT", "CHUNKING"], entry.Keywords.Select(k => k.Name));
        Assert.Equal(_time.GetUtcNow(), entry.LearntAt);
        Assert.Equal(_time.GetUtcNow(), entry.LastConfirmedAt);
        Assert.True(entry.OffersEarlyPipelining);
        Assert.Equal("PIPECONNECT", entry.EarlyPipeKeyword);
        Assert.Equal(1, _cache.Counters.Hits);
        Assert.Equal(1, _cache.Counters.Stored);
    }

    [Fact]
    public void Unknown_key_is_a_miss()
    {
        Assert.False(_cache.TryGetFresh(Key(), out var entry));
        Assert.Null(entry);
        Assert.Equal(1, _cache.Counters.Misses);
    }

    [Fact]
    public void Raw_reply_from_the_wire_is_learnt_line_by_line()
    {
        var raw = new ReadOnlySequence<byte>(Encoding.ASCII.GetBytes(string.Concat(EarlyReply().Select(l => l + "\r\n"))));

        Assert.Equal(EhloLearnOutcome.Stored, _cache.Learn(Key(), 220, raw));

        Assert.True(_cache.TryGetFresh(Key(), out var entry));
        Assert.Equal(EarlyReply(), entry.ReplyLines);
    }

    [Theory]
    [InlineData("PIPECONNECT", "PIPECONNECT")]
    [InlineData("PIPE_CONNECT", "PIPE_CONNECT")]
    [InlineData("X_PIPE_CONNECT", "X_PIPE_CONNECT")]
    [InlineData("pipeconnect", "PIPECONNECT")]
    [InlineData("x_pipe_connect", "X_PIPE_CONNECT")]
    public void Every_spelling_of_the_keyword_is_recognised(string advertised, string expected)
    {
        Assert.Equal(EhloLearnOutcome.Stored, _cache.Learn(Key(), 220, EarlyReply(advertised)));

        Assert.True(_cache.TryGetFresh(Key(), out var entry));
        Assert.True(entry.OffersEarlyPipelining);
        Assert.Equal(expected, entry.EarlyPipeKeyword);
    }

    [Theory]
    [InlineData("PIPECONNECTX")]
    [InlineData("XPIPECONNECT")]
    [InlineData("PIPE-CONNECT")]
    public void Lookalike_keywords_are_not_the_keyword(string advertised)
    {
        Assert.Equal(EhloLearnOutcome.NotCacheable, _cache.Learn(Key(), 220, EarlyReply(advertised)));
        Assert.Equal(0, _cache.Count);
    }

    [Fact]
    public void Keyword_inside_the_greeting_does_not_count()
    {
        string[] reply = ["250-mx.example.org PIPECONNECT", "250 PIPELINING"];

        Assert.Equal(EhloLearnOutcome.NotCacheable, _cache.Learn(Key(), 220, reply));
    }

    [Fact]
    public void Reply_without_the_keyword_is_not_stored()
    {
        Assert.Equal(EhloLearnOutcome.NotCacheable, _cache.Learn(Key(), 220, PlainReply()));
        Assert.False(_cache.TryGetFresh(Key(), out _));
    }

    [Fact]
    public void Keyword_without_PIPELINING_is_not_stored()
    {
        string[] reply = ["250-mx.example.org", "250-SIZE 1000", "250 PIPECONNECT"];

        Assert.Equal(EhloLearnOutcome.NotCacheable, _cache.Learn(Key(), 220, reply));
        Assert.Equal(0, _cache.Count);
    }

    [Theory]
    [InlineData(554)]
    [InlineData(421)]
    [InlineData(250)]
    public void Banner_other_than_220_is_not_stored_and_flushes_an_existing_entry(int banner)
    {
        Assert.Equal(EhloLearnOutcome.NotCacheable, _cache.Learn(Key(TlsPhase.TlsOnConnect), banner, EarlyReply()));
        _cache.Learn(Key(), 220, EarlyReply());

        Assert.Equal(EhloLearnOutcome.Flushed, _cache.Learn(Key(), banner, EarlyReply()));

        Assert.Equal(0, _cache.Count);
        Assert.Equal(1, _cache.Counters.Flushes(EhloCacheFlushReason.BadBanner));
    }

    [Fact]
    public void Malformed_reply_is_not_stored()
    {
        string[] reply = ["250-mx.example.org", "250-PIPELINING", "251 PIPECONNECT"];

        Assert.Equal(EhloLearnOutcome.NotCacheable, _cache.Learn(Key(), 220, reply));
        Assert.Equal(EhloLearnOutcome.NotCacheable, _cache.Learn(Key(), 220, ["250-PIPELINING\r\n250 PIPECONNECT"]));
        Assert.Equal(EhloLearnOutcome.NotCacheable, _cache.Learn(Key(), 220, []));
    }

    [Fact]
    public void Entry_expires_after_the_configured_expiry()
    {
        _cache.Learn(Key(), 220, EarlyReply());

        _time.Advance(TimeSpan.FromDays(7) - TimeSpan.FromSeconds(1));
        Assert.True(_cache.TryGetFresh(Key(), out _));

        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.False(_cache.TryGetFresh(Key(), out _));

        // Expired entries are dropped when read, as Exim does.
        Assert.Equal(0, _cache.Count);
        Assert.Equal(1, _cache.Counters.Flushes(EhloCacheFlushReason.Expired));
        Assert.Equal(1, _cache.Counters.Misses);
    }

    [Fact]
    public async Task Configured_expiry_is_honoured()
    {
        await using var cache = Sessions.EhloCache.EhloCache.Open(new EhloCacheOptions { Expiry = TimeSpan.FromSeconds(1) }, _time);
        cache.Learn(Key(), 220, EarlyReply());

        _time.Advance(TimeSpan.FromSeconds(2));

        Assert.False(cache.TryGetFresh(Key(), out _));
    }

    [Fact]
    public void Confirming_moves_last_confirmed_but_does_not_extend_the_expiry()
    {
        _cache.Learn(Key(), 220, EarlyReply());
        var learnt = _time.GetUtcNow();

        _time.Advance(TimeSpan.FromDays(6));
        Assert.Equal(EhloLearnOutcome.Confirmed, _cache.Learn(Key(), 220, EarlyReply()));
        Assert.True(_cache.TryGetFresh(Key(), out var entry));
        Assert.Equal(learnt, entry.LearntAt);
        Assert.Equal(_time.GetUtcNow(), entry.LastConfirmedAt);

        _time.Advance(TimeSpan.FromDays(1));
        Assert.True(_cache.Confirm(Key()));
        Assert.False(_cache.TryGetFresh(Key(), out _));
    }

    [Fact]
    public void Relearning_after_expiry_stores_a_fresh_entry()
    {
        _cache.Learn(Key(), 220, EarlyReply());
        _time.Advance(TimeSpan.FromDays(8));

        Assert.Equal(EhloLearnOutcome.Stored, _cache.Learn(Key(), 220, EarlyReply()));

        Assert.True(_cache.TryGetFresh(Key(), out var entry));
        Assert.Equal(_time.GetUtcNow(), entry.LearntAt);
    }

    [Fact]
    public void Changed_capabilities_rewrite_the_entry()
    {
        _cache.Learn(Key(), 220, EarlyReply());
        _time.Advance(TimeSpan.FromHours(1));

        Assert.Equal(EhloLearnOutcome.Rewritten, _cache.Learn(Key(), 220, EarlyReply(size: "10485760")));

        Assert.True(_cache.TryGetFresh(Key(), out var entry));
        Assert.Equal("10485760", entry.CreateCapabilities().GetParameters("SIZE"));
        Assert.Equal(_time.GetUtcNow(), entry.LearntAt);
        Assert.Equal(1, _cache.Counters.Rewrites);
    }

    [Fact]
    public void Changed_spelling_rewrites_the_entry()
    {
        _cache.Learn(Key(), 220, EarlyReply("X_PIPE_CONNECT"));

        Assert.Equal(EhloLearnOutcome.Rewritten, _cache.Learn(Key(), 220, EarlyReply("PIPECONNECT")));

        Assert.True(_cache.TryGetFresh(Key(), out var entry));
        Assert.Equal("PIPECONNECT", entry.EarlyPipeKeyword);
    }

    [Fact]
    public void Only_a_different_greeting_is_a_confirmation()
    {
        _cache.Learn(Key(), 220, EarlyReply());
        var reply = EarlyReply();
        reply[0] = "250-mx.example.org Hello other [192.0.2.99]";

        Assert.Equal(EhloLearnOutcome.Confirmed, _cache.Learn(Key(), 220, reply));
        Assert.Equal(0, _cache.Counters.Rewrites);
        Assert.Equal(1, _cache.Counters.Confirmations);
    }

    [Fact]
    public void Keyword_gone_flushes_the_entry()
    {
        _cache.Learn(Key(), 220, EarlyReply());

        Assert.Equal(EhloLearnOutcome.Flushed, _cache.Learn(Key(), 220, PlainReply()));

        Assert.False(_cache.TryGetFresh(Key(), out _));
        Assert.Equal(1, _cache.Counters.Flushes(EhloCacheFlushReason.KeywordWithdrawn));
    }

    [Fact]
    public void PIPELINING_gone_flushes_the_entry()
    {
        _cache.Learn(Key(), 220, EarlyReply());

        Assert.Equal(EhloLearnOutcome.Flushed, _cache.Learn(Key(), 220, ["250-mx.example.org", "250 PIPECONNECT"]));
        Assert.Equal(0, _cache.Count);
    }

    [Theory]
    [InlineData(421, EhloCacheFlushReason.TransientRejection)]
    [InlineData(450, EhloCacheFlushReason.TransientRejection)]
    [InlineData(451, EhloCacheFlushReason.TransientRejection)]
    [InlineData(550, EhloCacheFlushReason.PermanentRejection)]
    [InlineData(554, EhloCacheFlushReason.PermanentRejection)]
    [InlineData(503, EhloCacheFlushReason.PermanentRejection)]
    public void Any_4xx_or_5xx_in_an_early_transaction_flushes_by_default(int code, EhloCacheFlushReason reason)
    {
        _cache.Learn(Key(), 220, EarlyReply());

        Assert.True(_cache.OnEarlyTransactionReply(Key(), code));

        Assert.Equal(0, _cache.Count);
        Assert.Equal(1, _cache.Counters.Flushes(reason));
    }

    [Fact]
    public void A_rejection_after_STARTTLS_flushes_the_cleartext_entry_of_the_same_server_too()
    {
        var cleartext = Key();
        var secured = new EhloCacheKey(cleartext.LocalAddress, cleartext.RemoteAddress, cleartext.RemotePort, TlsPhase.AfterStartTls);
        var otherServer = new EhloCacheKey(cleartext.LocalAddress, cleartext.RemoteAddress, cleartext.RemotePort + 1, TlsPhase.Cleartext);
        _cache.Learn(cleartext, 220, EarlyReply());
        _cache.Learn(secured, 220, EarlyReply());
        _cache.Learn(otherServer, 220, EarlyReply());

        Assert.True(_cache.OnEarlyTransactionReply(secured, 550));

        Assert.False(_cache.TryGetFresh(secured, out _));
        Assert.False(_cache.TryGetFresh(cleartext, out _));
        Assert.True(_cache.TryGetFresh(otherServer, out _));
        Assert.Equal(2, _cache.Counters.Flushes(EhloCacheFlushReason.PermanentRejection));
    }

    [Theory]
    [InlineData(220)]
    [InlineData(250)]
    [InlineData(251)]
    [InlineData(354)]
    public void Positive_replies_keep_the_entry(int code)
    {
        _cache.Learn(Key(), 220, EarlyReply());

        Assert.False(_cache.OnEarlyTransactionReply(Key(), code));
        Assert.True(_cache.TryGetFresh(Key(), out _));
    }

    [Theory]
    [InlineData(550, false)]
    [InlineData(551, false)]
    [InlineData(552, false)]
    [InlineData(553, false)]
    [InlineData(554, true)]
    [InlineData(503, true)]
    [InlineData(500, true)]
    [InlineData(450, true)]
    [InlineData(421, true)]
    public async Task KeepOnPermanentRejection_keeps_the_entry_after_an_ordinary_rejection_only(int code, bool flushed)
    {
        await using var cache = Sessions.EhloCache.EhloCache.Open(new EhloCacheOptions { KeepOnPermanentRejection = true }, _time);
        cache.Learn(Key(), 220, EarlyReply());

        Assert.Equal(flushed, cache.OnEarlyTransactionReply(Key(), code));
        Assert.Equal(!flushed, cache.TryGetFresh(Key(), out _));
    }

    [Fact]
    public void Entries_are_keyed_by_tls_phase()
    {
        _cache.Learn(Key(TlsPhase.Cleartext), 220, EarlyReply());
        _cache.Learn(Key(TlsPhase.AfterStartTls), 220, EarlyReply(size: "1"));

        Assert.False(_cache.TryGetFresh(Key(TlsPhase.TlsOnConnect), out _));
        Assert.True(_cache.TryGetFresh(Key(TlsPhase.AfterStartTls), out var afterTls));
        Assert.Equal("1", afterTls.CreateCapabilities().GetParameters("SIZE"));

        _cache.Flush(Key(TlsPhase.Cleartext), EhloCacheFlushReason.ConnectionFailed);
        Assert.True(_cache.TryGetFresh(Key(TlsPhase.AfterStartTls), out _));
        Assert.False(_cache.TryGetFresh(Key(TlsPhase.Cleartext), out _));
    }

    [Fact]
    public void Entries_are_keyed_by_local_address_remote_address_and_port()
    {
        _cache.Learn(Key(), 220, EarlyReply());

        Assert.False(_cache.TryGetFresh(Key(local: OtherLocal), out _));
        Assert.False(_cache.TryGetFresh(Key(remote: IPAddress.Parse("198.51.100.26")), out _));
        Assert.False(_cache.TryGetFresh(Key(port: 587), out _));
        Assert.True(_cache.TryGetFresh(Key(), out _));
    }

    [Fact]
    public void IPv4_mapped_addresses_find_the_IPv4_entry()
    {
        _cache.Learn(Key(), 220, EarlyReply());

        var mapped = new EhloCacheKey(Local.MapToIPv6(), Remote.MapToIPv6(), 25, TlsPhase.Cleartext);

        Assert.Equal(Key(), mapped);
        Assert.True(_cache.TryGetFresh(mapped, out _));
    }

    [Fact]
    public void Default_key_is_refused_by_learn()
    {
        Assert.Throws<ArgumentException>(() => _cache.Learn(default, 220, EarlyReply()));
        Assert.False(_cache.TryGetFresh(default, out _));
    }

    [Fact]
    public void Flush_of_a_missing_entry_counts_nothing()
    {
        Assert.False(_cache.Flush(Key(), EhloCacheFlushReason.ConnectionFailed));
        Assert.False(_cache.OnEarlyTransactionReply(Key(), 451));
        Assert.False(_cache.Confirm(Key()));
        Assert.Equal(0, _cache.Counters.TotalFlushes);
    }

    [Fact]
    public void Capabilities_handed_out_are_a_copy()
    {
        _cache.Learn(Key(), 220, EarlyReply());
        Assert.True(_cache.TryGetFresh(Key(), out var entry));

        var copy = entry.CreateCapabilities();
        copy.Remove("PIPECONNECT");

        Assert.True(entry.CreateCapabilities().Contains("PIPECONNECT"));
        Assert.True(entry.OffersEarlyPipelining);
    }

    [Fact]
    public void List_find_and_flush_all_serve_the_cli()
    {
        var other = IPAddress.Parse("203.0.113.5");
        _cache.Learn(Key(), 220, EarlyReply());
        _cache.Learn(Key(port: 587), 220, EarlyReply());
        _cache.Learn(Key(TlsPhase.AfterStartTls), 220, EarlyReply());
        _cache.Learn(Key(remote: other), 220, EarlyReply());

        Assert.Equal(4, _cache.List().Count);
        Assert.Equal(3, _cache.Find("198.51.100.25").Count);
        Assert.Equal(2, _cache.Find("198.51.100.25:25").Count);
        Assert.Single(_cache.Find("203.0.113.5"));
        Assert.Empty(_cache.Find("203.0.113.6"));

        Assert.Equal(1, _cache.FlushAll("198.51.100.25:587"));
        Assert.Equal(2, _cache.FlushAll("198.51.100.25"));
        Assert.Equal(1, _cache.FlushAll());
        Assert.Empty(_cache.List());
        Assert.Equal(4, _cache.Counters.Flushes(EhloCacheFlushReason.Operator));
    }

    [Theory]
    [InlineData("198.51.100.25", "198.51.100.25", null)]
    [InlineData("198.51.100.25:2525", "198.51.100.25", 2525)]
    [InlineData("2001:db8::25", "2001:db8::25", null)]
    [InlineData("[2001:db8::25]", "2001:db8::25", null)]
    [InlineData("[2001:db8::25]:465", "2001:db8::25", 465)]
    [InlineData("::ffff:198.51.100.25", "198.51.100.25", null)]
    public void Host_filters_parse(string text, string address, int? port)
    {
        Assert.True(EhloCacheHostFilter.TryParse(text, out var filter));
        Assert.Equal(IPAddress.Parse(address), filter.Value.Address);
        Assert.Equal(port, filter.Value.Port);
    }

    [Theory]
    [InlineData("")]
    [InlineData("mx.example.org")]
    [InlineData("198.51.100.25:0")]
    [InlineData("198.51.100.25:70000")]
    [InlineData("[2001:db8::25")]
    public void Bad_host_filters_are_refused(string text)
    {
        Assert.False(EhloCacheHostFilter.TryParse(text, out _));
        Assert.Throws<FormatException>(() => _cache.Find(text == string.Empty ? " " : text));
    }
}
