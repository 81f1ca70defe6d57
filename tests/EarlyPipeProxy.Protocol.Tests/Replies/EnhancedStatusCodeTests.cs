using EarlyPipeProxy.Protocol.Replies;
using EarlyPipeProxy.Protocol.Tests.TestSupport;

namespace EarlyPipeProxy.Protocol.Tests.Replies;

public sealed class EnhancedStatusCodeTests
{
    [Theory]
    [InlineData("5.7.1", 5, 7, 1, 5)]
    [InlineData("2.0.0 Ok", 2, 0, 0, 5)]
    [InlineData("4.4.2 try later", 4, 4, 2, 5)]
    [InlineData("5.1.10 text", 5, 1, 10, 6)]
    [InlineData("5.123.456", 5, 123, 456, 9)]
    [InlineData("4.999.999 x", 4, 999, 999, 9)]
    [InlineData("2.007.01 x", 2, 7, 1, 8)]
    [InlineData("5.7.1  two spaces", 5, 7, 1, 5)]
    public void TryParse_ValidCode_ReturnsPartsAndLength(string text, int @class, int subject, int detail, int length)
    {
        var ok = EnhancedStatusCode.TryParse(Bytes.Of(text), out var code, out var parsedLength);

        Assert.True(ok);
        Assert.Equal(new EnhancedStatusCode(@class, subject, detail), code);
        Assert.Equal(length, parsedLength);
    }

    [Theory]
    [InlineData("")]
    [InlineData("5")]
    [InlineData("5.7")]
    [InlineData("5.7.")]
    [InlineData("5..1")]
    [InlineData(".7.1")]
    [InlineData("3.7.1")]
    [InlineData("1.0.0")]
    [InlineData("6.0.0")]
    [InlineData("0.0.0")]
    [InlineData("55.7.1")]
    [InlineData("5.1234.1")]
    [InlineData("5.1.1000")]
    [InlineData("5.1.1x")]
    [InlineData("5.1.1.")]
    [InlineData("5.1.1\tx")]
    [InlineData("5.1.1-x")]
    [InlineData(" 5.1.1")]
    [InlineData("5,1,1")]
    [InlineData("Ok 5.1.1")]
    [InlineData("5.a.1")]
    public void TryParse_NotACodeAtStart_ReturnsFalseAndDefaults(string text)
    {
        var ok = EnhancedStatusCode.TryParse(Bytes.Of(text), out var code, out var length);

        Assert.False(ok);
        Assert.Equal(default, code);
        Assert.Equal(0, length);
    }

    [Fact]
    public void ToString_Code_FormatsDotted()
    {
        Assert.Equal("5.7.1", new EnhancedStatusCode(5, 7, 1).ToString());
        Assert.Equal("4.123.45", new EnhancedStatusCode(4, 123, 45).ToString());
    }
}
