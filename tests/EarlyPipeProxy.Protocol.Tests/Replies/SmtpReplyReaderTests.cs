using System.Buffers;
using EarlyPipeProxy.Protocol.Replies;
using EarlyPipeProxy.Protocol.Tests.TestSupport;

namespace EarlyPipeProxy.Protocol.Tests.Replies;

public sealed class SmtpReplyReaderTests
{
    private const int Limit = 512;

    private static (ReplyReadStatus Status, int Code, string Raw, int Lines, long Consumed) Read(
        ReadOnlySequence<byte> input, int maxLineLength = Limit)
    {
        var reader = new SequenceReader<byte>(input);
        var status = SmtpReplyReader.TryReadReply(ref reader, maxLineLength, out var reply);
        return (status, reply.Code, Bytes.Text(reply.Raw), reply.LineCount, reader.Consumed);
    }

    [Fact]
    public void TryReadReply_SingleLine_ReturnsCompleteReply()
    {
        var result = Read(Bytes.Sequence("250 2.1.0 Ok\r\n354 next"));

        Assert.Equal((ReplyReadStatus.Complete, 250, "250 2.1.0 Ok\r\n", 1, 14L), result);
    }

    [Fact]
    public void TryReadReply_MultiLine_RawCoversAllLines()
    {
        const string Reply = "250-mx.example.org\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250 CHUNKING\r\n";

        var result = Read(Bytes.Sequence(Reply + "220 x\r\n"));

        Assert.Equal((ReplyReadStatus.Complete, 250, Reply, 4, (long)Reply.Length), result);
    }

    [Theory]
    [InlineData("250\r\n", 1)]
    [InlineData("250-a\r\n250\r\n", 2)]
    [InlineData("250-\r\n250 \r\n", 2)]
    public void TryReadReply_FinalLineWithoutText_ReturnsComplete(string input, int lines)
    {
        var result = Read(Bytes.Sequence(input));

        Assert.Equal((ReplyReadStatus.Complete, 250, input, lines, (long)input.Length), result);
    }

    [Fact]
    public void TryReadReply_TwoRepliesBuffered_ReadsOneAtATime()
    {
        var reader = new SequenceReader<byte>(Bytes.Sequence("250 Ok\r\n550-no\r\n550 such user\r\n"));

        Assert.Equal(ReplyReadStatus.Complete, SmtpReplyReader.TryReadReply(ref reader, Limit, out var first));
        Assert.Equal((250, "250 Ok\r\n"), (first.Code, Bytes.Text(first.Raw)));
        Assert.Equal(ReplyReadStatus.Complete, SmtpReplyReader.TryReadReply(ref reader, Limit, out var second));
        Assert.Equal((550, "550-no\r\n550 such user\r\n", 2), (second.Code, Bytes.Text(second.Raw), second.LineCount));
        Assert.True(reader.End);
        Assert.Equal(ReplyReadStatus.Incomplete, SmtpReplyReader.TryReadReply(ref reader, Limit, out _));
    }

    [Fact]
    public void TryReadReply_ReaderAlreadyAdvanced_RawStartsAtCurrentPosition()
    {
        var reader = new SequenceReader<byte>(Bytes.Sequence("250 a\r\n221 bye\r\n"));
        reader.Advance(7);

        Assert.Equal(ReplyReadStatus.Complete, SmtpReplyReader.TryReadReply(ref reader, Limit, out var reply));
        Assert.Equal("221 bye\r\n", Bytes.Text(reply.Raw));
        Assert.Equal(16, reader.Consumed);
    }

    [Fact]
    public void TryReadReply_BannerTeaserOnly_ReturnsIncompleteWithoutAdvancing()
    {
        var result = Read(Bytes.Sequence("220-mx.example.org ESMTP teaser\r\n"));

        Assert.Equal((ReplyReadStatus.Incomplete, 0, "", 0, 0L), result);
    }

    [Fact]
    public void TryReadReply_EveryPrefix_ReturnsIncompleteWithoutAdvancing()
    {
        const string Input = "220-teaser\r\n220-more\r\n220 ready\r\n";
        for (var length = 0; length < Input.Length; length++)
        {
            var result = Read(Bytes.Sequence(Input[..length]));

            Assert.Equal((ReplyReadStatus.Incomplete, 0, "", 0, 0L), result);
        }
    }

    [Fact]
    public void TryReadReply_SplitAtEveryOffset_ReturnsSameReply()
    {
        const string Input = "250-a\r\n250-bb\r\n250 ccc\r\nNEXT";
        const string Expected = "250-a\r\n250-bb\r\n250 ccc\r\n";
        for (var first = 0; first <= Input.Length; first++)
        {
            for (var second = first; second <= Input.Length; second++)
            {
                var result = Read(Bytes.SplitAt(Input, first, second));

                Assert.Equal((ReplyReadStatus.Complete, 250, Expected, 3, (long)Expected.Length), result);
            }
        }

        Assert.Equal((ReplyReadStatus.Complete, 250, Expected, 3, (long)Expected.Length), Read(Bytes.OneBytePerSegment(Input)));
    }

    [Theory]
    [InlineData("250-a\r\n251 b\r\n")]
    [InlineData("250-a\r\n350 b\r\n")]
    [InlineData("25 x\r\n")]
    [InlineData("2500 x\r\n")]
    [InlineData("25a x\r\n")]
    [InlineData("250+x\r\n")]
    [InlineData("250\tx\r\n")]
    [InlineData("\r\n")]
    [InlineData("25\r\n")]
    [InlineData(" 250 x\r\n")]
    [InlineData("OK\r\n")]
    [InlineData("250 bare lf\n")]
    [InlineData("250-a\r\n250 bare lf\n")]
    [InlineData("250 bare\rcr\r\n")]
    [InlineData("250-a\n250 b\r\n")]
    public void TryReadReply_MalformedLine_ReturnsMalformedWithoutAdvancing(string input)
    {
        var result = Read(Bytes.Sequence(input));

        Assert.Equal((ReplyReadStatus.Malformed, 0, "", 0, 0L), result);
    }

    [Fact]
    public void TryReadReply_LineAtLimit_ReturnsComplete()
    {
        var line = "250 " + new string('x', 6);

        var result = Read(Bytes.Sequence(line + "\r\n"), maxLineLength: 10);

        Assert.Equal(ReplyReadStatus.Complete, result.Status);
    }

    [Fact]
    public void TryReadReply_LineOverLimit_ReturnsTooLongWithoutAdvancing()
    {
        var line = "250 " + new string('x', 7);

        var result = Read(Bytes.Sequence(line + "\r\n"), maxLineLength: 10);

        Assert.Equal((ReplyReadStatus.TooLong, 0, "", 0, 0L), result);
    }

    [Fact]
    public void TryReadReply_ContinuationLineOverLimit_ReturnsTooLongWithoutAdvancing()
    {
        var result = Read(Bytes.Sequence("250-short\r\n250-" + new string('x', 20) + "\r\n250 end\r\n"), maxLineLength: 10);

        Assert.Equal((ReplyReadStatus.TooLong, 0, "", 0, 0L), result);
    }

    [Fact]
    public void TryReadReply_EndlessLineWithoutLf_ReturnsTooLong()
    {
        var result = Read(Bytes.Segments("250-ok\r\n", "250 " + new string('x', 30)), maxLineLength: 10);

        Assert.Equal((ReplyReadStatus.TooLong, 0, "", 0, 0L), result);
    }
}
