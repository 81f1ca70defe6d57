using EarlyPipeProxy.Sessions.Downstream;
using EarlyPipeProxy.Sessions.Messages;
using EarlyPipeProxy.Sessions.Tests.TestSupport;

namespace EarlyPipeProxy.Sessions.Tests.Messages;

public sealed class MessageBodyReaderTests
{
    private const string Body = "Subject: hi\r\n\r\n..leading dot\r\nmid.dot\r\n.\r\n";

    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(3);

    public static TheoryData<int> BodySplits()
    {
        var data = new TheoryData<int>();
        for (var split = 0; split <= Body.Length; split++)
        {
            data.Add(split);
        }

        return data;
    }

    /// <summary>
    /// Sends <paramref name="body"/> (which ends with the terminator) in two writes, the second with the peer's next
    /// command once the channel waits, and reads the body into <paramref name="sink"/>.
    /// </summary>
    internal static async Task<MessageBodyOutcome> ReadSplitAsync(DownstreamPair pair, IMessageBodySink sink, string body, int split, string after = "QUIT\r\n")
    {
        Task sender;
        if (split < body.Length)
        {
            await pair.SendAsync(body[..split]);
            sender = pair.SendWhenWaitingAsync(body[split..] + after);
        }
        else
        {
            await pair.SendAsync(body + after);
            sender = Task.CompletedTask;
        }

        var outcome = await Task.Run(() => MessageBodyReader.ReadAsync(pair.Channel, sink, Timeout, pair.Record).AsTask()).WaitAsync(Wire.Patience);
        await sender;
        return outcome;
    }

    private static async Task AssertNextCommandAsync(DownstreamPair pair, string expected)
    {
        var read = await pair.Channel.ReadCommandAsync().AsTask().WaitAsync(Wire.Patience);
        Assert.Equal(CommandReadStatus.Command, read.Status);
        Assert.Equal(expected, Wire.Text(System.Buffers.BuffersExtensions.ToArray(read.Line)));
        pair.Channel.Consume();
    }

    [Theory]
    [MemberData(nameof(BodySplits))]
    public async Task A_body_split_anywhere_reaches_the_sink_byte_identical_with_its_terminator(int split)
    {
        await using var pair = new DownstreamPair();
        var sink = new RecordingBodySink();

        var outcome = await ReadSplitAsync(pair, sink, Body, split);

        Assert.Equal(MessageBodyOutcome.Complete, outcome);
        Assert.Equal(Wire.Visible(Body), Wire.Visible(sink.Received));
        Assert.EndsWith(".\r\n", sink.Ended, StringComparison.Ordinal);
        Assert.Equal(0, sink.Abandons);
        Assert.Equal(Body.Length, pair.Record.BytesFromPeer);

        // What follows the terminator is the next command, untouched.
        await AssertNextCommandAsync(pair, "QUIT");
    }

    [Fact]
    public async Task An_empty_message_is_the_terminator_alone()
    {
        await using var pair = new DownstreamPair();
        var sink = new RecordingBodySink();

        Assert.Equal(MessageBodyOutcome.Complete, await ReadSplitAsync(pair, sink, ".\r\n", 3));
        Assert.Equal(".\r\n", sink.Ended);
        Assert.Equal(".\r\n", sink.Received);
        await AssertNextCommandAsync(pair, "QUIT");
    }

    public static TheoryData<string, int> RefusedBodies() => new()
    {
        { "a\nb\r\n.\r\n", 1 },
        { "a\rb\r\n.\r\n", 1 },
        { "a\0b\r\n.\r\n", 1 },
        { "a\r\r\n.\r\n", 1 },
        { "ok\r\nbad\nline\r\n.\r\n", 7 },
        { "a\nb\nc\rd\0\r\n.\r\n", 1 },

        // Smuggling: the terminator another MTA might see, then a forged command and the real terminator.
        { "a\r\n\n.\r\nMAIL FROM:<evil>\r\n.\r\n", 3 },
        { "a\r\n.\n.\r\nRCPT TO:<evil>\r\n.\r\n", 4 },
    };

    [Theory]
    [MemberData(nameof(RefusedBodies))]
    public async Task A_bare_line_ending_or_NUL_is_refused_at_every_split_point(string body, int bad)
    {
        for (var split = 0; split <= body.Length; split++)
        {
            await using var pair = new DownstreamPair();
            var sink = new RecordingBodySink();

            var outcome = await ReadSplitAsync(pair, sink, body, split);

            var at = $"split at {split} of {Wire.Visible(body)}";
            Assert.True(outcome == MessageBodyOutcome.Refused, at);
            Assert.True(sink.Abandons == 1, at);
            Assert.False(sink.ReceivedAfterAbandon, at);
            Assert.Null(sink.Ended);

            // The offending octet never reaches the sink; what did is the body's start, as sent.
            Assert.True(sink.Received.Length <= bad, at);
            Assert.Equal(body[..sink.Received.Length], sink.Received);

            // The rest up to the real terminator was consumed: the next command is the one after it.
            Assert.Equal(body.Length, pair.Record.BytesFromPeer);
            await AssertNextCommandAsync(pair, "QUIT");
        }
    }

    [Fact]
    public async Task The_refusal_is_logged_once_with_what_was_found()
    {
        await using var pair = new DownstreamPair();
        var sink = new RecordingBodySink();

        await ReadSplitAsync(pair, sink, "a\nb\nc\r\n.\r\n", 11);

        Assert.Single(pair.Logger.Lines, line => line.Contains("LF", StringComparison.Ordinal));
    }

    public static TheoryData<int> CutPoints()
    {
        var data = new TheoryData<int>();
        for (var cut = 0; cut < Body.Length; cut++)
        {
            data.Add(cut);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(CutPoints))]
    public async Task The_peer_closing_before_the_terminator_is_peer_lost(int cut)
    {
        await using var pair = new DownstreamPair();
        var sink = new RecordingBodySink();
        await pair.SendAsync(Body[..cut]);
        pair.ClosePeer();

        var outcome = await MessageBodyReader.ReadAsync(pair.Channel, sink, Timeout, pair.Record).AsTask().WaitAsync(Wire.Patience);

        Assert.Equal(MessageBodyOutcome.PeerLost, outcome);
        Assert.Null(sink.Ended);
        Assert.Equal(0, sink.Abandons);
        Assert.Equal(Body[..sink.Received.Length], sink.Received);
    }

    [Fact]
    public async Task Settling_that_ends_the_session_ends_the_body_as_session_over()
    {
        await using var pair = new DownstreamPair { SettleResult = false };
        var sink = new RecordingBodySink();
        await pair.SendAsync("half a bo");

        var outcome = await MessageBodyReader.ReadAsync(pair.Channel, sink, Timeout, pair.Record).AsTask().WaitAsync(Wire.Patience);

        Assert.Equal(MessageBodyOutcome.SessionOver, outcome);
        Assert.Null(sink.Ended);
    }

    [Fact]
    public async Task A_graceful_stop_waits_for_the_end_of_the_message()
    {
        await using var pair = new DownstreamPair();
        var sink = new RecordingBodySink();
        await pair.SendAsync("abc\r\n");

        var read = Task.Run(() => MessageBodyReader.ReadAsync(pair.Channel, sink, Timeout, pair.Record).AsTask());
        await pair.WaitForSettleAsync();
        pair.Channel.Input.CancelPendingRead();
        await pair.WaitForSettleAsync();
        Assert.False(read.IsCompleted);
        await pair.SendAsync(".\r\n");

        Assert.Equal(MessageBodyOutcome.Complete, await read.WaitAsync(Wire.Patience));
        Assert.Equal("abc\r\n.\r\n", sink.Received);
    }
}
