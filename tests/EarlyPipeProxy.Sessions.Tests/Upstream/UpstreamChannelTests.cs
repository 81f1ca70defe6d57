using System.Buffers;
using EarlyPipeProxy.Sessions.Tests.TestSupport;
using EarlyPipeProxy.Sessions.Upstream;
using Microsoft.Extensions.Time.Testing;

namespace EarlyPipeProxy.Sessions.Tests.Upstream;

public sealed class UpstreamChannelTests
{
    private const string Replies = "250-mx.test\r\n250-PIPELINING\r\n250 CHUNKING\r\n354 go ahead\r\n221 2.0.0 Bye\r\n";

    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(5);

    public static TheoryData<int> Splits()
    {
        var data = new TheoryData<int>();
        for (var split = 0; split <= Replies.Length; split++)
        {
            data.Add(split);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Splits))]
    public async Task Multi_line_replies_split_anywhere_read_whole(int split)
    {
        await using var pair = await UpstreamPair.ConnectAsync();
        await pair.SendAsync(Replies[..split]);

        var reads = Task.Run(async () =>
        {
            var list = new List<(int Code, int Lines, string Raw)>();
            for (var i = 0; i < 2; i++)
            {
                var reply = await pair.Channel.ReadReplyAsync(Timeout);
                list.Add((reply.Code, reply.LineCount, Wire.Text(reply.Raw.ToArray())));
                pair.Channel.ReleaseReply();
            }

            list.Add(ToTuple(await pair.Channel.ReadReplyCopyAsync(Timeout)));
            return list;
        });
        await Task.Yield();
        await pair.SendAsync(Replies[split..]);

        Assert.Equal(
            [(250, 3, "250-mx.test\r\n250-PIPELINING\r\n250 CHUNKING\r\n"), (354, 1, "354 go ahead\r\n"), (221, 1, "221 2.0.0 Bye\r\n")],
            await reads.WaitAsync(Wire.Patience));
    }

    private static (int, int, string) ToTuple(UpstreamReply reply) => (reply.Code, 1, Wire.Text(reply.Raw));

    [Fact]
    public async Task A_reply_that_never_comes_is_a_timeout_and_the_deadline_still_works_afterwards()
    {
        var time = new FakeTimeProvider();
        await using var pair = await UpstreamPair.ConnectAsync(time: time);

        var read = pair.Channel.ReadReplyAsync(TimeSpan.FromSeconds(10)).AsTask();
        time.Advance(TimeSpan.FromSeconds(9));
        Assert.False(read.IsCompleted);
        time.Advance(TimeSpan.FromSeconds(1));
        var failure = await Assert.ThrowsAsync<UpstreamUnavailableException>(() => read.WaitAsync(Wire.Patience));
        Assert.Equal(UpstreamFailure.Timeout, failure.Failure);

        // The next wait starts afresh: longer than the first timeout, not cancelled; then answered.
        var next = pair.Channel.ReadReplyAsync(TimeSpan.FromSeconds(60)).AsTask();
        time.Advance(TimeSpan.FromSeconds(30));
        Assert.False(next.IsCompleted);
        await pair.SendAsync("250 ok\r\n");
        Assert.Equal(250, (await next.WaitAsync(Wire.Patience)).Code);
        pair.Channel.ReleaseReply();

        // And it times out again on its own.
        var third = pair.Channel.ReadReplyAsync(TimeSpan.FromSeconds(5)).AsTask();
        time.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal(UpstreamFailure.Timeout, (await Assert.ThrowsAsync<UpstreamUnavailableException>(() => third.WaitAsync(Wire.Patience))).Failure);
    }

    [Fact]
    public async Task A_real_short_timeout_becomes_UpstreamUnavailableException_timeout()
    {
        await using var pair = await UpstreamPair.ConnectAsync();

        var failure = await Assert.ThrowsAsync<UpstreamUnavailableException>(
            () => pair.Channel.ReadReplyAsync(TimeSpan.FromMilliseconds(50)).AsTask().WaitAsync(Wire.Patience));

        Assert.Equal(UpstreamFailure.Timeout, failure.Failure);
    }

    [Fact]
    public async Task The_sessions_abort_is_no_timeout()
    {
        using var abort = new CancellationTokenSource();
        await using var pair = await UpstreamPair.ConnectAsync(aborted: abort.Token);

        var read = pair.Channel.ReadReplyAsync(Timeout).AsTask();
        await abort.CancelAsync();

        var ex = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => read.WaitAsync(Wire.Patience));
        Assert.IsNotType<UpstreamUnavailableException>(ex);
    }

    [Fact]
    public async Task An_upstream_that_closes_is_closed_not_a_timeout()
    {
        await using var pair = await UpstreamPair.ConnectAsync();
        await pair.SendAsync("250-half\r\n");
        await pair.CloseUpstreamSideAsync();

        var failure = await Assert.ThrowsAsync<UpstreamUnavailableException>(() => pair.Channel.ReadReplyAsync(Timeout).AsTask().WaitAsync(Wire.Patience));

        Assert.Equal(UpstreamFailure.Closed, failure.Failure);
    }

    [Fact]
    public async Task Flushing_to_an_upstream_that_stopped_reading_is_closed()
    {
        await using var pair = await UpstreamPair.ConnectAsync();
        pair.StopReading();
        pair.Channel.Write("NOOP\r\n"u8);

        var failure = await Assert.ThrowsAsync<UpstreamUnavailableException>(async () => await pair.Channel.FlushAsync());

        Assert.Equal(UpstreamFailure.Closed, failure.Failure);
    }

    [Fact]
    public async Task Quit_after_abort_does_nothing_and_does_not_throw()
    {
        await using var pair = await UpstreamPair.ConnectAsync();
        pair.Channel.Write("MAIL FROM:<a>\r\n"u8);
        await pair.Channel.FlushAsync();
        Assert.Equal("MAIL FROM:<a>\r\n", pair.TakeReceived());

        await pair.Channel.AbortAsync();
        await pair.Channel.QuitAsync(owed: 1, readReplies: true).AsTask().WaitAsync(Wire.Patience);

        Assert.True(pair.Channel.IsClosed);
        Assert.Equal(1, pair.Aborts);
        Assert.Equal(string.Empty, pair.TakeReceived());
    }

    [Fact]
    public async Task Quit_reads_the_owed_replies_then_the_goodbye()
    {
        await using var pair = await UpstreamPair.ConnectAsync();
        await pair.SendAsync("250 2.0.0 Ok\r\n221 2.0.0 Bye\r\n");

        await pair.Channel.QuitAsync(owed: 1, readReplies: true).AsTask().WaitAsync(Wire.Patience);

        Assert.Equal("QUIT\r\n", pair.TakeReceived());
    }

    [Fact]
    public async Task Quit_to_an_upstream_that_is_gone_does_not_throw()
    {
        await using var pair = await UpstreamPair.ConnectAsync();
        pair.StopReading();
        await pair.CloseUpstreamSideAsync();

        await pair.Channel.QuitAsync(owed: 0, readReplies: true).AsTask().WaitAsync(Wire.Patience);
    }

    [Fact]
    public async Task Close_resets_when_a_message_is_under_way_and_ends_politely_otherwise()
    {
        await using var polite = await UpstreamPair.ConnectAsync();
        await polite.Channel.CloseAsync();
        Assert.Equal((1, 0), (polite.Closes, polite.Aborts));

        await using var reset = await UpstreamPair.ConnectAsync();
        reset.Channel.AbortOnClose = true;
        await reset.Channel.CloseAsync();
        Assert.Equal((0, 1), (reset.Closes, reset.Aborts));
        Assert.True(reset.Channel.IsClosed);
    }
}
