using System.Net;
using System.Text;
using EarlyPipeProxy.Protocol.ClientIdentity;

namespace EarlyPipeProxy.Protocol.Tests.ClientIdentity;

public sealed class XclientCommandTests
{
    // What Postfix 3.7 (built with SASL, as Debian's is) advertises to an authorized proxy.
    private const string Postfix37Offer = "NAME ADDR PROTO HELO REVERSE_NAME PORT LOGIN DESTADDR DESTPORT";

    private static readonly XclientAttributes Postfix37 = XclientCommand.ParseOffer(Postfix37Offer);

    private static IPEndPoint EndPoint(string address, int port) => new(IPAddress.Parse(address), port);

    private static ProxiedClient Client(string address = "192.0.2.1", int port = 52143, ClientHostNames? names = null, IPEndPoint? destination = null) =>
        new(EndPoint(address, port), destination ?? EndPoint("198.51.100.25", 25), names ?? ClientHostNames.None);

    /// <summary>A valid host name of exactly <paramref name="length"/> characters: labels of 60 letters.</summary>
    private static string HostName(int length) =>
        new([.. Enumerable.Range(0, length).Select(i => i % 61 == 60 && i != length - 1 ? '.' : 'n')]);

    private static string[] Lines(ProxiedClient client, XclientAttributes offered) =>
        [.. XclientCommand.Build(client, offered).Select(l => Encoding.Latin1.GetString(l))];

    private static string Line(ProxiedClient client, XclientAttributes offered) => Assert.Single(Lines(client, offered));

    [Fact]
    public void Build_Postfix37Offer_SendsEveryAttributeItsRestrictionsUse()
    {
        var line = Line(Client(names: ClientHostNames.Verified("mx.client.example")), Postfix37);

        Assert.Equal(
            "XCLIENT ADDR=192.0.2.1 PORT=52143 NAME=mx.client.example REVERSE_NAME=mx.client.example DESTADDR=198.51.100.25 DESTPORT=25\r\n",
            line);
    }

    [Fact]
    public void Build_UnverifiedPtrName_NameUnavailableButReverseNameKept()
    {
        var line = Line(Client(names: ClientHostNames.Unverified("forged.example", failedForNow: false)), Postfix37);

        Assert.Contains(" NAME=[UNAVAILABLE] REVERSE_NAME=forged.example ", line, StringComparison.Ordinal);
    }

    [Fact]
    public void Build_ForwardLookupFailedForNow_NameTempunavailButReverseNameKept()
    {
        var line = Line(Client(names: ClientHostNames.Unverified("slow.example", failedForNow: true)), Postfix37);

        Assert.Contains(" NAME=[TEMPUNAVAIL] REVERSE_NAME=slow.example ", line, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("[UNAVAILABLE]")]
    [InlineData("[TEMPUNAVAIL]")]
    public void Build_NoName_BothNamesCarryTheMarker(string marker)
    {
        var line = Line(Client(names: new ClientHostNames(marker, marker)), Postfix37);

        Assert.Contains($" NAME={marker} REVERSE_NAME={marker} ", line, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("NAME ADDR PORT PROTO HELO LOGIN", "XCLIENT ADDR=192.0.2.1 PORT=52143 NAME=[UNAVAILABLE]\r\n")]
    [InlineData("ADDR", "XCLIENT ADDR=192.0.2.1\r\n")]
    [InlineData("NAME ADDR", "XCLIENT ADDR=192.0.2.1 NAME=[UNAVAILABLE]\r\n")]
    [InlineData("addr port reverse_name", "XCLIENT ADDR=192.0.2.1 PORT=52143 REVERSE_NAME=[UNAVAILABLE]\r\n")]
    [InlineData("ADDR DESTPORT", "XCLIENT ADDR=192.0.2.1 DESTPORT=25\r\n")]
    [InlineData("ADDR DESTADDR FUTURE_THING", "XCLIENT ADDR=192.0.2.1 DESTADDR=198.51.100.25\r\n")]
    public void Build_SendsOnlyWhatTheBackendOffers(string offer, string expected)
    {
        Assert.Equal(expected, Line(Client(), XclientCommand.ParseOffer(offer)));
    }

    [Fact]
    public void Build_LoginOffered_NeverSendsLogin()
    {
        var everything = Enum.GetValues<XclientAttributes>().Aggregate(XclientAttributes.None, (a, b) => a | b);

        var lines = Lines(Client(names: ClientHostNames.Verified("client.example")), everything);

        Assert.All(lines, l => Assert.DoesNotContain("LOGIN=", l, StringComparison.OrdinalIgnoreCase));
        Assert.All(lines, l => Assert.DoesNotContain("HELO=", l, StringComparison.OrdinalIgnoreCase));
        Assert.All(lines, l => Assert.DoesNotContain("PROTO=", l, StringComparison.OrdinalIgnoreCase));
    }

    [Fact]
    public void Build_NoDestination_OmitsDestAttributes()
    {
        var client = new ProxiedClient(EndPoint("192.0.2.1", 1), null, ClientHostNames.None);

        Assert.Equal("XCLIENT ADDR=192.0.2.1 PORT=1 NAME=[UNAVAILABLE] REVERSE_NAME=[UNAVAILABLE]\r\n", Line(client, Postfix37));
    }

    [Fact]
    public void Build_Ipv6_WritesIpv6PrefixForBothAddresses()
    {
        var line = Line(Client("2001:db8::1", 25, destination: EndPoint("2001:db8::25", 587)), Postfix37);

        Assert.StartsWith("XCLIENT ADDR=IPV6:2001:db8::1 PORT=25 ", line, StringComparison.Ordinal);
        Assert.EndsWith(" DESTADDR=IPV6:2001:db8::25 DESTPORT=587\r\n", line, StringComparison.Ordinal);
    }

    [Fact]
    public void Build_Ipv4Mapped_WritesIpv4ForBothAddresses()
    {
        var line = Line(Client("::ffff:198.51.100.7", 1, destination: EndPoint("::ffff:192.0.2.25", 2025)), Postfix37);

        Assert.StartsWith("XCLIENT ADDR=198.51.100.7 PORT=1 ", line, StringComparison.Ordinal);
        Assert.EndsWith(" DESTADDR=192.0.2.25 DESTPORT=2025\r\n", line, StringComparison.Ordinal);
    }

    [Fact]
    public void Build_Ipv6WithScopeId_OmitsScope()
    {
        var line = Line(Client("fe80::1%3", 25), XclientAttributes.Addr);

        Assert.Equal("XCLIENT ADDR=IPV6:fe80::1\r\n", line);
    }

    [Theory]
    [InlineData("evil.example\r\nRCPT TO:<x@y>")]
    [InlineData("a b.example")]
    [InlineData("name+with=xtext")]
    [InlineData("192.0.2.1")]
    [InlineData("-bad.example")]
    [InlineData("trailing.dot.")]
    [InlineData("caf\u00e9.example")]
    [InlineData("")]
    public void Build_NamePostfixWouldRefuse_SentAsUnavailable(string hostile)
    {
        var line = Line(Client(names: new ClientHostNames(hostile, hostile)), Postfix37);

        Assert.Contains(" NAME=[UNAVAILABLE] REVERSE_NAME=[UNAVAILABLE] ", line, StringComparison.Ordinal);
        Assert.Equal(line.Length - 2, line.IndexOf('\r', StringComparison.Ordinal));
    }

    [Fact]
    public void Build_MarkersInAnyCase_WrittenInPostfixsSpelling()
    {
        var line = Line(Client(names: new ClientHostNames("[tempunavail]", "[Unavailable]")), Postfix37);

        Assert.Contains(" NAME=[TEMPUNAVAIL] REVERSE_NAME=[UNAVAILABLE] ", line, StringComparison.Ordinal);
    }

    [Fact]
    public void Build_LongNames_SplitsIntoTwoCommandsEachWithinTheLimit_AddrAndNameLast()
    {
        var longName = string.Join('.', Enumerable.Repeat(new string('a', 63), 4)); // 255 characters
        var client = Client("2001:db8:ffff:ffff:ffff:ffff:ffff:1", 65535, ClientHostNames.Verified(longName), EndPoint("2001:db8:ffff:ffff:ffff:ffff:ffff:25", 65535));

        var lines = Lines(client, Postfix37);

        Assert.Equal(2, lines.Length);
        Assert.All(lines, l => Assert.True(l.Length <= XclientCommand.MaxLineLength, $"{l.Length} characters"));
        Assert.Equal($"XCLIENT REVERSE_NAME={longName} DESTADDR=IPV6:2001:db8:ffff:ffff:ffff:ffff:ffff:25 DESTPORT=65535\r\n", lines[0]);
        Assert.Equal($"XCLIENT ADDR=IPV6:2001:db8:ffff:ffff:ffff:ffff:ffff:1 PORT=65535 NAME={longName}\r\n", lines[1]);
    }

    [Fact]
    public void Build_JustWithinTheLimit_StaysOneCommand()
    {
        // Both names appear once each, so every character more in the name makes the line two characters longer.
        var withOneCharacterNames = Line(Client(names: ClientHostNames.Verified("x")), Postfix37).Length;
        var longestThatFits = 1 + ((XclientCommand.MaxLineLength - withOneCharacterNames) / 2);
        var fits = Lines(Client(names: ClientHostNames.Verified(HostName(longestThatFits))), Postfix37);
        var tooLong = Lines(Client(names: ClientHostNames.Verified(HostName(longestThatFits + 1))), Postfix37);

        Assert.InRange(Assert.Single(fits).Length, XclientCommand.MaxLineLength - 1, XclientCommand.MaxLineLength);
        Assert.Equal(2, tooLong.Length);
    }

    [Theory]
    [InlineData(null, XclientAttributes.None)]
    [InlineData("", XclientAttributes.None)]
    [InlineData("ADDR  NAME", XclientAttributes.Addr | XclientAttributes.Name)]
    [InlineData("destaddr DestPort LOGIN", XclientAttributes.DestAddr | XclientAttributes.DestPort | XclientAttributes.Login)]
    public void ParseOffer_ReadsTheAttributeNames(string? offer, XclientAttributes expected)
    {
        Assert.Equal(expected, XclientCommand.ParseOffer(offer));
    }

    [Fact]
    public void ParseOffer_Postfix37_HasEverythingTheProxyUses()
    {
        const XclientAttributes Used = XclientAttributes.Addr | XclientAttributes.Port | XclientAttributes.Name
            | XclientAttributes.ReverseName | XclientAttributes.DestAddr | XclientAttributes.DestPort;

        Assert.Equal(Used, Postfix37 & Used);
    }
}
