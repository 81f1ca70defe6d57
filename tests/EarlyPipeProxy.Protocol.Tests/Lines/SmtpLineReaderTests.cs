using System.Buffers;
using EarlyPipeProxy.Protocol.Lines;
using EarlyPipeProxy.Protocol.Tests.TestSupport;

namespace EarlyPipeProxy.Protocol.Tests.Lines;

public sealed class SmtpLineReaderTests
{
    private const int Limit = 512;

    private static (LineReadStatus Status, string Line, long Consumed) Read(ReadOnlySequence<byte> input, int maxLength = Limit)
    {
        var reader = new SequenceReader<byte>(input);
        var status = SmtpLineReader.TryReadLine(ref reader, maxLength, out var line);
        return (status, Bytes.Text(line), reader.Consumed);
    }

    [Theory]
    [InlineData("AUTH PLAIN ", 2000, LineReadStatus.Complete)]
    [InlineData("auth plain ", 2000, LineReadStatus.Complete)]
    [InlineData("AUTH PLAIN ", 5000, LineReadStatus.TooLong)]
    [InlineData("MAIL FROM:<", 2000, LineReadStatus.TooLong)]
    [InlineData("AUTHX PLAIN", 2000, LineReadStatus.TooLong)]
    [InlineData("AUTH\tPLAIN ", 2000, LineReadStatus.Complete)]
    [InlineData(" \tAUTH PLAIN ", 2000, LineReadStatus.Complete)]
    [InlineData("AUTH\u000bPLAIN ", 2000, LineReadStatus.Complete)]
    [InlineData("AUTH:PLAIN ", 2000, LineReadStatus.TooLong)]
    public void TryReadCommandLine_OnlyAuthLinesGetTheSaslLimit(string start, int length, LineReadStatus expected)
    {
        var text = start + new string('A', length) + "\r\nNOOP\r\n";
        var reader = new SequenceReader<byte>(Bytes.Sequence(text));

        var status = SmtpLineReader.TryReadCommandLine(ref reader, Limit, 4096, out var line);

        Assert.Equal(expected, status);
        if (expected == LineReadStatus.Complete)
        {
            Assert.Equal(start + new string('A', length), Bytes.Text(line));
            Assert.Equal(text.Length - "NOOP\r\n".Length, reader.Consumed);
        }
        else
        {
            Assert.Equal(0, reader.Consumed);
        }
    }

    [Fact]
    public void TryReadLine_CrlfLine_ReturnsLineWithoutCrlfAndAdvancesPastIt()
    {
        var result = Read(Bytes.Sequence("EHLO client.example\r\nMAIL"));

        Assert.Equal((LineReadStatus.Complete, "EHLO client.example", 21L), result);
    }

    [Fact]
    public void TryReadLine_EmptyLine_ReturnsEmptyComplete()
    {
        var result = Read(Bytes.Sequence("\r\nX"));

        Assert.Equal((LineReadStatus.Complete, "", 2L), result);
    }

    [Fact]
    public void TryReadLine_EmptyBuffer_ReturnsIncomplete()
    {
        var result = Read(ReadOnlySequence<byte>.Empty);

        Assert.Equal((LineReadStatus.Incomplete, "", 0L), result);
    }

    [Fact]
    public void TryReadLine_EveryPrefixOfLine_ReturnsIncompleteWithoutAdvancing()
    {
        const string Input = "MAIL FROM:<a@b.example> SIZE=1000\r\n";
        for (var length = 0; length < Input.Length; length++)
        {
            var result = Read(Bytes.Sequence(Input[..length]));

            Assert.Equal((LineReadStatus.Incomplete, "", 0L), result);
        }
    }

    [Fact]
    public void TryReadLine_EveryPrefixSplitInTwoSegments_ReturnsIncompleteWithoutAdvancing()
    {
        const string Input = "RCPT TO:<x@y>\r\n";
        for (var length = 0; length < Input.Length; length++)
        {
            for (var cut = 0; cut <= length; cut++)
            {
                var result = Read(Bytes.SplitAt(Input[..length], cut));

                Assert.Equal((LineReadStatus.Incomplete, "", 0L), result);
            }
        }
    }

    [Fact]
    public void TryReadLine_SeveralLines_ReadsThemInOrder()
    {
        var reader = new SequenceReader<byte>(Bytes.Sequence("MAIL FROM:<>\r\nRCPT TO:<a@b>\r\nDATA\r\nQUI"));
        var lines = new List<string>();

        while (SmtpLineReader.TryReadLine(ref reader, Limit, out var line) == LineReadStatus.Complete)
        {
            lines.Add(Bytes.Text(line));
        }

        Assert.Equal(["MAIL FROM:<>", "RCPT TO:<a@b>", "DATA"], lines);
        Assert.Equal(35, reader.Consumed);
        Assert.Equal("QUI", Bytes.Text(reader.UnreadSequence));
    }

    [Fact]
    public void TryReadLine_ReaderAlreadyAdvanced_ReadsFromCurrentPosition()
    {
        var reader = new SequenceReader<byte>(Bytes.Sequence("xxNOOP\r\n"));
        reader.Advance(2);

        var status = SmtpLineReader.TryReadLine(ref reader, Limit, out var line);

        Assert.Equal(LineReadStatus.Complete, status);
        Assert.Equal("NOOP", Bytes.Text(line));
        Assert.Equal(8, reader.Consumed);
    }

    [Fact]
    public void TryReadLine_BareLf_ReturnsBareLineEndingAndAdvancesPastLf()
    {
        var reader = new SequenceReader<byte>(Bytes.Sequence("RSET\nNOOP\r\n"));

        var status = SmtpLineReader.TryReadLine(ref reader, Limit, out var line);

        Assert.Equal(LineReadStatus.BareLineEnding, status);
        Assert.Equal("RSET", Bytes.Text(line));
        Assert.Equal(5, reader.Consumed);

        // The caller can answer and carry on with the next line.
        Assert.Equal(LineReadStatus.Complete, SmtpLineReader.TryReadLine(ref reader, Limit, out var next));
        Assert.Equal("NOOP", Bytes.Text(next));
    }

    [Fact]
    public void TryReadLine_LoneLf_ReturnsBareLineEndingWithEmptyLine()
    {
        var result = Read(Bytes.Sequence("\nX"));

        Assert.Equal((LineReadStatus.BareLineEnding, "", 1L), result);
    }

    [Fact]
    public void TryReadLine_BareCrInsideLine_ReturnsBareLineEndingWithBytesUpToLf()
    {
        var result = Read(Bytes.Sequence("NO\rOP\r\nQUIT\r\n"));

        Assert.Equal((LineReadStatus.BareLineEnding, "NO\rOP\r", 7L), result);
    }

    [Fact]
    public void TryReadLine_CrCrLf_ReturnsBareLineEnding()
    {
        var result = Read(Bytes.Sequence("NOOP\r\r\n"));

        Assert.Equal((LineReadStatus.BareLineEnding, "NOOP\r\r", 7L), result);
    }

    [Fact]
    public void TryReadLine_BareCrAndNoLfYet_ReturnsIncomplete()
    {
        var result = Read(Bytes.Sequence("NO\rOP"));

        Assert.Equal((LineReadStatus.Incomplete, "", 0L), result);
    }

    [Fact]
    public void TryReadLine_BareCrAndNoLfBeyondLimit_ReturnsTooLong()
    {
        var result = Read(Bytes.Sequence("ab\rcdefgh"), maxLength: 5);

        Assert.Equal((LineReadStatus.TooLong, "", 0L), result);
    }

    [Fact]
    public void TryReadLine_LineOfExactlyMaxLength_ReturnsComplete()
    {
        var result = Read(Bytes.Sequence("abcde\r\n"), maxLength: 5);

        Assert.Equal((LineReadStatus.Complete, "abcde", 7L), result);
    }

    [Fact]
    public void TryReadLine_LineOneOverMaxLength_ReturnsTooLongWithoutAdvancing()
    {
        var result = Read(Bytes.Sequence("abcdef\r\n"), maxLength: 5);

        Assert.Equal((LineReadStatus.TooLong, "", 0L), result);
    }

    [Fact]
    public void TryReadLine_MaxLengthPlusTwoBytesWithoutLf_ReturnsIncomplete()
    {
        // "abcdefg" could not end well, but the documented rule is "more than maxLength + 2".
        var result = Read(Bytes.Sequence("abcdefg"), maxLength: 5);

        Assert.Equal((LineReadStatus.Incomplete, "", 0L), result);
    }

    [Fact]
    public void TryReadLine_MoreThanMaxLengthPlusTwoBytesWithoutLf_ReturnsTooLong()
    {
        var result = Read(Bytes.Sequence("abcdefgh"), maxLength: 5);

        Assert.Equal((LineReadStatus.TooLong, "", 0L), result);
    }

    [Fact]
    public void TryReadLine_FullLineBufferedUpToCr_ReturnsIncomplete()
    {
        var result = Read(Bytes.Sequence("abcde\r"), maxLength: 5);

        Assert.Equal((LineReadStatus.Incomplete, "", 0L), result);
    }

    [Fact]
    public void TryReadLine_BareLfAtLastAllowedIndex_ReturnsBareLineEnding()
    {
        var result = Read(Bytes.Sequence("abcdef\n"), maxLength: 5);

        Assert.Equal((LineReadStatus.BareLineEnding, "abcdef", 7L), result);
    }

    [Fact]
    public void TryReadLine_ZeroMaxLength_AcceptsOnlyEmptyLines()
    {
        Assert.Equal((LineReadStatus.Complete, "", 2L), Read(Bytes.Sequence("\r\n"), maxLength: 0));
        Assert.Equal((LineReadStatus.TooLong, "", 0L), Read(Bytes.Sequence("a\r\n"), maxLength: 0));
    }

    [Fact]
    public void TryReadLine_NegativeMaxLength_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Read(Bytes.Sequence("\r\n"), maxLength: -1));
    }

    [Fact]
    public void TryReadLine_NulAndEightBitBytes_AreOrdinaryLineContent()
    {
        var result = Read(Bytes.Sequence("a\0\u00e9\u00ffb\r\n"));

        Assert.Equal((LineReadStatus.Complete, "a\0\u00e9\u00ffb", 7L), result);
    }

    [Fact]
    public void TryReadLine_LineSplitAtEveryOffset_ReturnsSameLine()
    {
        const string Input = "MAIL FROM:<a@b>\r\nRCPT";
        for (var cut = 0; cut <= Input.Length; cut++)
        {
            var result = Read(Bytes.SplitAt(Input, cut));

            Assert.Equal((LineReadStatus.Complete, "MAIL FROM:<a@b>", 17L), result);
        }
    }

    [Fact]
    public void TryReadLine_LineSplitAtEveryPairOfOffsets_ReturnsSameLine()
    {
        const string Input = "NOOP x\r\nQ";
        for (var first = 0; first <= Input.Length; first++)
        {
            for (var second = first; second <= Input.Length; second++)
            {
                var result = Read(Bytes.SplitAt(Input, first, second));

                Assert.Equal((LineReadStatus.Complete, "NOOP x", 8L), result);
            }
        }
    }

    [Fact]
    public void TryReadLine_OneBytePerSegment_ReturnsSameLine()
    {
        var result = Read(Bytes.OneBytePerSegment("HELO a\r\nX"));

        Assert.Equal((LineReadStatus.Complete, "HELO a", 8L), result);
    }

    [Fact]
    public void TryReadLine_BareLfSplitAtEveryOffset_ReturnsBareLineEnding()
    {
        const string Input = "abc\ndef";
        for (var cut = 0; cut <= Input.Length; cut++)
        {
            var result = Read(Bytes.SplitAt(Input, cut));

            Assert.Equal((LineReadStatus.BareLineEnding, "abc", 4L), result);
        }
    }

    [Fact]
    public void TryReadLine_BareCrSplitAtEveryOffset_ReturnsBareLineEnding()
    {
        const string Input = "ab\rcd\r\nz";
        for (var cut = 0; cut <= Input.Length; cut++)
        {
            var result = Read(Bytes.SplitAt(Input, cut));

            Assert.Equal((LineReadStatus.BareLineEnding, "ab\rcd\r", 7L), result);
        }
    }

    [Fact]
    public void TryReadLine_CrCrLfOneBytePerSegment_ReturnsBareLineEnding()
    {
        var result = Read(Bytes.OneBytePerSegment("ab\r\r\n"));

        Assert.Equal((LineReadStatus.BareLineEnding, "ab\r\r", 5L), result);
    }

    [Fact]
    public void TryReadLine_LimitSplitAtEveryOffset_ClassifiesLikeOneSegment()
    {
        // With maxLength 5: the 5-byte line fits, the 6-byte one does not, 8 bytes without LF are too long.
        string[] inputs = ["abcde\r\n", "abcdef\r\n", "abcdefgh", "abcdefg", "abcdef\n"];
        foreach (var input in inputs)
        {
            var expected = Read(Bytes.Sequence(input), maxLength: 5);
            for (var cut = 0; cut <= input.Length; cut++)
            {
                Assert.Equal(expected, Read(Bytes.SplitAt(input, cut), maxLength: 5));
            }

            Assert.Equal(expected, Read(Bytes.OneBytePerSegment(input), maxLength: 5));
        }
    }

    [Fact]
    public void TryReadLine_LfBeyondLimitInLaterSegment_ReturnsTooLong()
    {
        var result = Read(Bytes.Segments("abc", "def", "ghi", "\r\n"), maxLength: 5);

        Assert.Equal((LineReadStatus.TooLong, "", 0L), result);
    }

    [Fact]
    public void TryReadLine_MultiSegmentLine_LineSpansSegmentsWithoutCopying()
    {
        var reader = new SequenceReader<byte>(Bytes.Segments("DA", "T", "A\r", "\nNEXT"));

        var status = SmtpLineReader.TryReadLine(ref reader, Limit, out var line);

        Assert.Equal(LineReadStatus.Complete, status);
        Assert.False(line.IsSingleSegment);
        Assert.Equal("DATA", Bytes.Text(line));
        Assert.Equal("NEXT", Bytes.Text(reader.UnreadSequence));
    }

    [Fact]
    public void TrySkipLine_LfPresent_DiscardsThroughLfAndReturnsTrue()
    {
        var reader = new SequenceReader<byte>(Bytes.Sequence("garbage garbage\r\nNOOP\r\n"));

        var found = SmtpLineReader.TrySkipLine(ref reader);

        Assert.True(found);
        Assert.Equal(17, reader.Consumed);
    }

    [Fact]
    public void TrySkipLine_NoLf_DiscardsEverythingAndReturnsFalse()
    {
        var reader = new SequenceReader<byte>(Bytes.Segments("garbage", " more\r"));

        var found = SmtpLineReader.TrySkipLine(ref reader);

        Assert.False(found);
        Assert.True(reader.End);
        Assert.Equal(13, reader.Consumed);
    }

    [Fact]
    public void TrySkipLine_LfInLaterSegment_StopsJustPastIt()
    {
        var reader = new SequenceReader<byte>(Bytes.Segments("xxx", "yy\nQU", "IT\r\n"));

        var found = SmtpLineReader.TrySkipLine(ref reader);

        Assert.True(found);
        Assert.Equal(6, reader.Consumed);
        Assert.Equal("QUIT\r\n", Bytes.Text(reader.UnreadSequence));
    }

    [Fact]
    public void TryReadLine_AfterTooLongAndSkip_ReadsNextLine()
    {
        // A client sends an over-long line in two reads; the caller skips it, then carries on.
        var first = new SequenceReader<byte>(Bytes.Sequence("aaaaaaaaaa"));
        Assert.Equal(LineReadStatus.TooLong, SmtpLineReader.TryReadLine(ref first, 5, out _));
        Assert.False(SmtpLineReader.TrySkipLine(ref first));

        var second = new SequenceReader<byte>(Bytes.Sequence("aaa\r\nQUIT\r\n"));
        Assert.True(SmtpLineReader.TrySkipLine(ref second));
        var status = SmtpLineReader.TryReadLine(ref second, 5, out var line);

        Assert.Equal(LineReadStatus.Complete, status);
        Assert.Equal("QUIT", Bytes.Text(line));
        Assert.True(second.End);
    }
}
