using System.Buffers;
using EarlyPipeProxy.Protocol.ClientIdentity;
using EarlyPipeProxy.Protocol.Tests.TestSupport;

namespace EarlyPipeProxy.Protocol.Tests.ClientIdentity;

public sealed class XtextTests
{
    private static string Encode(string value, int initialCapacity = 256)
    {
        var writer = new ArrayBufferWriter<byte>(initialCapacity);
        Xtext.Write(writer, value);
        return Bytes.Text(writer.WrittenSpan);
    }

    [Theory]
    [InlineData("a b", "a+20b")]
    [InlineData("a+b=c", "a+2Bb+3Dc")]
    [InlineData("x\r\nRCPT TO:<y>", "x+0D+0ARCPT+20TO:<y>")]
    [InlineData("\u0000\u001f\u007f", "+00+1F+7F")]
    [InlineData("!~", "!~")]
    [InlineData("caf\u00e9", "caf+C3+A9")]
    [InlineData("\U0001F600", "+F0+9F+98+80")]
    [InlineData("[a]{b}|c\\d\"e'f", "[a]{b}|c\\d\"e'f")]
    [InlineData("", "")]
    public void Write_EncodesAsUppercaseHex(string value, string expected)
    {
        Assert.Equal(expected, Encode(value));
    }

    [Fact]
    public void Write_LoneSurrogate_EncodesReplacementCharacter()
    {
        Assert.Equal("a+EF+BF+BDb", Encode("a" + (char)0xD800 + "b"));
    }

    [Fact]
    public void Write_EveryByteValue_OnlyPrintablesOtherThanPlusAndEqualsPassThrough()
    {
        var value = Encode(new string([.. Enumerable.Range(0, 128).Select(i => (char)i)]));

        var expected = string.Concat(Enumerable.Range(0, 128).Select(i =>
            i is >= 33 and <= 126 and not '+' and not '=' ? ((char)i).ToString() : $"+{i:X2}"));
        Assert.Equal(expected, value);
    }

    [Fact]
    public void Write_LongValue_IsWrittenCompletely()
    {
        Assert.Equal(new string('h', 5000) + "+20", Encode(new string('h', 5000) + " ", initialCapacity: 16));
    }
}
