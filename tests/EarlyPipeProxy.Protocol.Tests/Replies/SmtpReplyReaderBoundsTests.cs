using System.Buffers;
using EarlyPipeProxy.Protocol.Replies;
using EarlyPipeProxy.Protocol.Tests.TestSupport;

namespace EarlyPipeProxy.Protocol.Tests.Replies;

/// <summary>A reply is bounded in lines as well as in line length (issue 11 item 6): a server that never ends one is refused.</summary>
public sealed class SmtpReplyReaderBoundsTests
{
    private static string Reply(int lines) =>
        string.Concat(Enumerable.Range(1, lines).Select(i => i < lines ? $"250-line {i}\r\n" : $"250 line {i}\r\n"));

    [Fact]
    public void A_reply_of_exactly_the_maximum_number_of_lines_is_complete()
    {
        var reader = new SequenceReader<byte>(Bytes.Sequence(Reply(SmtpReplyReader.DefaultMaxLines)));

        Assert.Equal(ReplyReadStatus.Complete, SmtpReplyReader.TryReadReply(ref reader, 512, out var reply));
        Assert.Equal(SmtpReplyReader.DefaultMaxLines, reply.LineCount);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(50)]
    public void One_continued_line_more_than_the_maximum_is_too_long_even_before_the_reply_ends(int extra)
    {
        // The final line has not even arrived: the bound holds without waiting for it.
        var text = string.Concat(Enumerable.Range(1, SmtpReplyReader.DefaultMaxLines + extra).Select(i => $"250-line {i}\r\n"));
        var reader = new SequenceReader<byte>(Bytes.Sequence(text));

        Assert.Equal(ReplyReadStatus.TooLong, SmtpReplyReader.TryReadReply(ref reader, 512, out _));
        Assert.Equal(0, reader.Consumed);
    }

    [Fact]
    public void The_caller_may_set_its_own_bound()
    {
        var reader = new SequenceReader<byte>(Bytes.Sequence(Reply(4)));

        Assert.Equal(ReplyReadStatus.TooLong, SmtpReplyReader.TryReadReply(ref reader, 512, out _, maxLines: 3));

        reader = new SequenceReader<byte>(Bytes.Sequence(Reply(3)));
        Assert.Equal(ReplyReadStatus.Complete, SmtpReplyReader.TryReadReply(ref reader, 512, out _, maxLines: 3));
    }

    [Fact]
    public void Every_split_point_of_a_reply_at_the_bound_gives_the_same_result()
    {
        var text = Reply(SmtpReplyReader.DefaultMaxLines);
        for (var cut = 1; cut < text.Length; cut += 7)
        {
            var reader = new SequenceReader<byte>(Bytes.SplitAt(text, cut));
            Assert.Equal(ReplyReadStatus.Complete, SmtpReplyReader.TryReadReply(ref reader, 512, out var reply));
            Assert.Equal(text.Length, reply.Raw.Length);
        }
    }
}
