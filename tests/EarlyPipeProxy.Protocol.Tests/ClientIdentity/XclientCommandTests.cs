using System.Buffers;
using System.Net;
using EarlyPipeProxy.Protocol.ClientIdentity;
using EarlyPipeProxy.Protocol.Tests.TestSupport;

namespace EarlyPipeProxy.Protocol.Tests.ClientIdentity;

public sealed class XclientCommandTests
{
    private static string Write(IPEndPoint client, string? name, string? helo)
    {
        var writer = new ArrayBufferWriter<byte>();
        XclientCommand.Write(writer, client, name, helo);
        return Bytes.Text(writer.WrittenSpan);
    }

    private static IPEndPoint EndPoint(string address, int port) => new(IPAddress.Parse(address), port);

    [Fact]
    public void Write_Ipv4AddressOnly_WritesAddrAndPort()
    {
        Assert.Equal("XCLIENT ADDR=192.0.2.1 PORT=52143\r\n", Write(EndPoint("192.0.2.1", 52143), null, null));
    }

    [Fact]
    public void Write_Ipv6Address_WritesIpv6Prefix()
    {
        Assert.Equal("XCLIENT ADDR=IPV6:2001:db8::1 PORT=25\r\n", Write(EndPoint("2001:db8::1", 25), null, null));
    }

    [Fact]
    public void Write_Ipv4MappedIpv6Address_WritesIpv4()
    {
        Assert.Equal("XCLIENT ADDR=198.51.100.7 PORT=1\r\n", Write(EndPoint("::ffff:198.51.100.7", 1), null, null));
    }

    [Fact]
    public void Write_Ipv6WithScopeId_OmitsScope()
    {
        Assert.Equal("XCLIENT ADDR=IPV6:fe80::1 PORT=25\r\n", Write(EndPoint("fe80::1%3", 25), null, null));
    }

    [Fact]
    public void Write_NameAndHelo_AppendsBothInOrder()
    {
        Assert.Equal(
            "XCLIENT ADDR=192.0.2.1 PORT=25 NAME=client.example HELO=client.example\r\n",
            Write(EndPoint("192.0.2.1", 25), "client.example", "client.example"));
    }

    [Fact]
    public void Write_HeloWithoutName_OmitsName()
    {
        Assert.Equal("XCLIENT ADDR=192.0.2.1 PORT=25 HELO=[192.0.2.1]\r\n", Write(EndPoint("192.0.2.1", 25), null, "[192.0.2.1]"));
    }

    [Fact]
    public void Write_NameWithoutHelo_OmitsHelo()
    {
        Assert.Equal("XCLIENT ADDR=192.0.2.1 PORT=25 NAME=[UNAVAILABLE]\r\n", Write(EndPoint("192.0.2.1", 25), "[UNAVAILABLE]", null));
    }

    [Fact]
    public void Write_EmptyStrings_WritesEmptyValues()
    {
        Assert.Equal("XCLIENT ADDR=192.0.2.1 PORT=25 NAME= HELO=\r\n", Write(EndPoint("192.0.2.1", 25), "", ""));
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
    public void Write_HeloNeedingXtext_EncodesAsUppercaseHex(string helo, string expected)
    {
        Assert.Equal($"XCLIENT ADDR=192.0.2.1 PORT=25 HELO={expected}\r\n", Write(EndPoint("192.0.2.1", 25), null, helo));
    }

    [Fact]
    public void Write_LoneSurrogate_EncodesReplacementCharacter()
    {
        // Built in code: a lone surrogate does not survive an attribute argument.
        var helo = "a" + (char)0xD800 + "b";

        Assert.Equal("XCLIENT ADDR=192.0.2.1 PORT=25 HELO=a+EF+BF+BDb\r\n", Write(EndPoint("192.0.2.1", 25), null, helo));
    }

    [Fact]
    public void Write_EveryByteValue_OnlyPrintablesOtherThanPlusAndEqualsPassThrough()
    {
        var name = new string([.. Enumerable.Range(0, 128).Select(i => (char)i)]);

        var written = Write(EndPoint("192.0.2.1", 25), name, null);

        var value = written["XCLIENT ADDR=192.0.2.1 PORT=25 NAME=".Length..^2];
        var expected = string.Concat(Enumerable.Range(0, 128).Select(i =>
            i is >= 33 and <= 126 and not '+' and not '=' ? ((char)i).ToString() : $"+{i:X2}"));
        Assert.Equal(expected, value);
        Assert.DoesNotContain('\r', value);
        Assert.DoesNotContain(' ', value);
    }

    [Fact]
    public void Write_LongValue_IsWrittenCompletely()
    {
        var helo = new string('h', 5000) + " ";
        var writer = new ArrayBufferWriter<byte>(16);

        XclientCommand.Write(writer, EndPoint("192.0.2.1", 25), null, helo);

        Assert.EndsWith(new string('h', 5000) + "+20\r\n", Bytes.Text(writer.WrittenSpan), StringComparison.Ordinal);
    }

    [Fact]
    public void Write_AppendsToExistingContent()
    {
        var writer = new ArrayBufferWriter<byte>();
        writer.Write("EHLO x\r\n"u8);

        XclientCommand.Write(writer, EndPoint("192.0.2.1", 0), null, null);

        Assert.Equal("EHLO x\r\nXCLIENT ADDR=192.0.2.1 PORT=0\r\n", Bytes.Text(writer.WrittenSpan));
    }
}
