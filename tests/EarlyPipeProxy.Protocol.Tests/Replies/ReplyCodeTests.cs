using EarlyPipeProxy.Protocol.Replies;
using EarlyPipeProxy.Protocol.Tests.TestSupport;

namespace EarlyPipeProxy.Protocol.Tests.Replies;

public sealed class ReplyCodeTests
{
    [Theory]
    [InlineData("250 ok\r\n", 250)]
    [InlineData("250-mx.example.org\r\n250 PIPELINING\r\n", 250)]
    [InlineData("221\r\n", 221)]
    [InlineData("354 go ahead\r\n", 354)]
    [InlineData("421 4.3.2 bye\r\n", 421)]
    [InlineData("000 odd\r\n", 0)]
    [InlineData("999", 999)]
    [InlineData("2500", 250)]
    public void Peek_ThreeDigits_ReturnsCode(string text, int expected)
    {
        Assert.Equal(expected, ReplyCode.Peek(Bytes.Of(text)));
        Assert.Equal(expected, ReplyCode.Peek(Bytes.Sequence(text)));
    }

    [Theory]
    [InlineData("")]
    [InlineData("2")]
    [InlineData("25")]
    [InlineData("25 ok\r\n")]
    [InlineData("2x0 ok\r\n")]
    [InlineData("x50 ok\r\n")]
    [InlineData("25x ok\r\n")]
    [InlineData(" 250 ok\r\n")]
    [InlineData("-250\r\n")]
    [InlineData("abc")]
    [InlineData("\r\n")]
    [InlineData("\u00B250 superscript two")]
    public void Peek_NoThreeLeadingDigits_ReturnsZero(string text)
    {
        Assert.Equal(0, ReplyCode.Peek(Bytes.Of(text)));
        Assert.Equal(0, ReplyCode.Peek(Bytes.Sequence(text)));
    }

    [Theory]
    [InlineData("250 ok\r\n")]
    [InlineData("354 End data with <CR><LF>.<CR><LF>\r\n")]
    [InlineData("220-mx.example.org ESMTP\r\n220 ready\r\n")]
    public void Peek_EveryPrefix_IsZeroUntilThreeDigitsThenTheCode(string text)
    {
        var code = int.Parse(text[..3], System.Globalization.CultureInfo.InvariantCulture);
        for (var length = 0; length <= text.Length; length++)
        {
            var expected = length >= 3 ? code : 0;
            Assert.Equal(expected, ReplyCode.Peek(Bytes.Of(text[..length])));
            Assert.Equal(expected, ReplyCode.Peek(Bytes.Sequence(text[..length])));
            Assert.Equal(expected, ReplyCode.Peek(Bytes.OneBytePerSegment(text[..length])));
        }
    }

    [Theory]
    [InlineData("250 ok\r\n")]
    [InlineData("2x0 ok\r\n")]
    [InlineData("25")]
    public void Peek_EverySplit_SameAsOneSegment(string text)
    {
        var expected = ReplyCode.Peek(Bytes.Of(text));
        for (var cut = 0; cut <= text.Length; cut++)
        {
            Assert.Equal(expected, ReplyCode.Peek(Bytes.SplitAt(text, cut)));
            for (var second = cut; second <= text.Length; second++)
            {
                Assert.Equal(expected, ReplyCode.Peek(Bytes.SplitAt(text, cut, second)));
            }
        }
    }

    [Fact]
    public void Peek_SequenceWithEmptyLeadingSegments_ReadsAcrossThem()
    {
        Assert.Equal(421, ReplyCode.Peek(Bytes.Segments("", "4", "", "21 bye\r\n")));
    }

    [Fact]
    public void Peek_DoesNotReadPastTheSequence()
    {
        // The test segments are guarded by "\r\n.\r\n": a peek past "25" would see no digit anyway, so use a slice of
        // a longer text to make sure only the slice is looked at.
        var sequence = Bytes.Sequence("2500").Slice(0, 2);

        Assert.Equal(0, ReplyCode.Peek(sequence));
    }

    [Theory]
    [InlineData(200, true, false, false, false)]
    [InlineData(250, true, false, false, false)]
    [InlineData(299, true, false, false, false)]
    [InlineData(334, false, true, false, false)]
    [InlineData(354, false, true, false, false)]
    [InlineData(421, false, false, true, false)]
    [InlineData(450, false, false, true, false)]
    [InlineData(500, false, false, false, true)]
    [InlineData(554, false, false, false, true)]
    [InlineData(599, false, false, false, true)]
    [InlineData(0, false, false, false, false)]
    [InlineData(199, false, false, false, false)]
    [InlineData(600, false, false, false, false)]
    [InlineData(-250, false, false, false, false)]
    public void Classes_FollowTheFirstDigit(int code, bool completion, bool intermediate, bool transient, bool permanent)
    {
        Assert.Equal(completion, ReplyCode.IsPositiveCompletion(code));
        Assert.Equal(intermediate, ReplyCode.IsIntermediate(code));
        Assert.Equal(transient, ReplyCode.IsTransientNegative(code));
        Assert.Equal(permanent, ReplyCode.IsPermanentNegative(code));
    }

    [Fact]
    public void NamedCodes_HaveTheirRfcValues()
    {
        Assert.Equal(220, ReplyCode.ServiceReady);
        Assert.Equal(221, ReplyCode.Closing);
        Assert.Equal(235, ReplyCode.AuthSucceeded);
        Assert.Equal(250, ReplyCode.Ok);
        Assert.Equal(334, ReplyCode.AuthChallenge);
        Assert.Equal(354, ReplyCode.StartMailInput);
        Assert.Equal(421, ReplyCode.ServiceNotAvailable);
    }
}
