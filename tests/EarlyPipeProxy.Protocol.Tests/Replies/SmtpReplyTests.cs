using System.Buffers;
using EarlyPipeProxy.Protocol.Replies;
using EarlyPipeProxy.Protocol.Tests.TestSupport;

namespace EarlyPipeProxy.Protocol.Tests.Replies;

public sealed class SmtpReplyTests
{
    private static SmtpReply Reply(int code, ReadOnlySequence<byte> raw, int lines = 1) => new(code, raw, lines);

    [Theory]
    [InlineData("250 2.1.0 Ok\r\n", "2.1.0 Ok")]
    [InlineData("250-first\r\n250-second\r\n250 last line\r\n", "last line")]
    [InlineData("250\r\n", "")]
    [InlineData("250 \r\n", "")]
    [InlineData("250-a\r\n250\r\n", "")]
    [InlineData("554 5.7.1 <x@y>: Relay access denied\r\n", "5.7.1 <x@y>: Relay access denied")]
    [InlineData("220  two  spaces \r\n", " two  spaces ")]
    public void FinalLineText_Reply_ReturnsTextOfLastLine(string raw, string expected)
    {
        var reply = Reply(250, Bytes.Sequence(raw));

        Assert.Equal(expected, reply.FinalLineText());
    }

    [Fact]
    public void FinalLineText_Utf8Text_IsDecodedAsUtf8()
    {
        var raw = new ReadOnlySequence<byte>("250 Gr\u00fc\u00dfe\r\n"u8.ToArray());

        Assert.Equal("Gr\u00fc\u00dfe", Reply(250, raw).FinalLineText());
    }

    [Fact]
    public void FinalLineText_DefaultReply_ReturnsEmpty()
    {
        Assert.Equal("", default(SmtpReply).FinalLineText());
    }

    [Fact]
    public void FinalLineText_RawSplitAtEveryOffset_ReturnsSameText()
    {
        const string Raw = "250-mx.example\r\n250-PIPELINING\r\n250 SMTPUTF8\r\n";
        for (var cut = 0; cut <= Raw.Length; cut++)
        {
            Assert.Equal("SMTPUTF8", Reply(250, Bytes.SplitAt(Raw, cut), 3).FinalLineText());
        }

        Assert.Equal("SMTPUTF8", Reply(250, Bytes.OneBytePerSegment(Raw), 3).FinalLineText());
    }

    [Theory]
    [InlineData("550 5.7.1 denied\r\n", 5, 7, 1)]
    [InlineData("550-5.1.1 first line\r\n550 5.7.1 final line\r\n", 5, 7, 1)]
    [InlineData("250 2.0.0\r\n", 2, 0, 0)]
    [InlineData("451 4.3.0 Error: queue file write error\r\n", 4, 3, 0)]
    public void TryGetEnhancedStatusCode_FinalLineHasCode_ReturnsIt(string raw, int @class, int subject, int detail)
    {
        var ok = Reply(550, Bytes.Sequence(raw)).TryGetEnhancedStatusCode(out var code);

        Assert.True(ok);
        Assert.Equal(new EnhancedStatusCode(@class, subject, detail), code);
    }

    [Theory]
    [InlineData("250 Ok\r\n")]
    [InlineData("250\r\n")]
    [InlineData("550-5.1.1 only on the first line\r\n550 denied\r\n")]
    [InlineData("550 5.7.1x\r\n")]
    [InlineData("550 denied 5.7.1\r\n")]
    public void TryGetEnhancedStatusCode_FinalLineHasNoCode_ReturnsFalse(string raw)
    {
        var ok = Reply(550, Bytes.Sequence(raw)).TryGetEnhancedStatusCode(out var code);

        Assert.False(ok);
        Assert.Equal(default, code);
    }

    [Fact]
    public void TryGetEnhancedStatusCode_DefaultReply_ReturnsFalse()
    {
        Assert.False(default(SmtpReply).TryGetEnhancedStatusCode(out _));
    }

    [Fact]
    public void TryGetEnhancedStatusCode_CodeSplitAcrossSegments_ReturnsIt()
    {
        const string Raw = "550-x\r\n550 5.123.456 denied\r\n";
        for (var cut = 0; cut <= Raw.Length; cut++)
        {
            var ok = Reply(550, Bytes.SplitAt(Raw, cut), 2).TryGetEnhancedStatusCode(out var code);

            Assert.True(ok);
            Assert.Equal(new EnhancedStatusCode(5, 123, 456), code);
        }
    }

    [Theory]
    [InlineData(199, false, false, false, false)]
    [InlineData(200, true, false, false, false)]
    [InlineData(299, true, false, false, false)]
    [InlineData(354, false, true, false, false)]
    [InlineData(421, false, false, true, false)]
    [InlineData(554, false, false, false, true)]
    public void Classification_Code_MatchesFirstDigit(int code, bool positive, bool intermediate, bool transient, bool permanent)
    {
        var reply = Reply(code, ReadOnlySequence<byte>.Empty);

        Assert.Equal(
            (positive, intermediate, transient, permanent),
            (reply.IsPositiveCompletion, reply.IsPositiveIntermediate, reply.IsTransientFailure, reply.IsPermanentFailure));
    }
}
