using System.Buffers;
using System.Net;
using EarlyPipeProxy.Protocol.ClientIdentity;
using EarlyPipeProxy.Protocol.Tests.TestSupport;

namespace EarlyPipeProxy.Protocol.Tests.ClientIdentity;

public sealed class ProxyProtocolHeaderTests
{
    private static readonly byte[] Signature = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A];

    private static IPEndPoint EndPoint(string address, int port) => new(IPAddress.Parse(address), port);

    private static string V1(IPEndPoint source, IPEndPoint destination)
    {
        var writer = new ArrayBufferWriter<byte>();
        ProxyProtocolHeader.WriteV1(writer, source, destination);
        return Bytes.Text(writer.WrittenSpan);
    }

    private static byte[] V2(IPEndPoint source, IPEndPoint destination)
    {
        var writer = new ArrayBufferWriter<byte>();
        ProxyProtocolHeader.WriteV2(writer, source, destination);
        return writer.WrittenSpan.ToArray();
    }

    private static byte[] V2(IPEndPoint source, IPEndPoint destination, ProxyTlsInfo? tls)
    {
        var writer = new ArrayBufferWriter<byte>();
        ProxyProtocolHeader.WriteV2(writer, source, destination, tls);
        return writer.WrittenSpan.ToArray();
    }

    [Fact]
    public void WriteV1_Ipv4_WritesTcp4Line()
    {
        Assert.Equal(
            "PROXY TCP4 192.0.2.1 198.51.100.2 56324 25\r\n",
            V1(EndPoint("192.0.2.1", 56324), EndPoint("198.51.100.2", 25)));
    }

    [Fact]
    public void WriteV1_Ipv6_WritesTcp6LineInCompressedForm()
    {
        Assert.Equal(
            "PROXY TCP6 2001:db8::1 2001:db8:0:1::2 65535 587\r\n",
            V1(EndPoint("2001:0db8:0000:0000:0000:0000:0000:0001", 65535), EndPoint("2001:db8:0:1:0:0:0:2", 587)));
    }

    [Fact]
    public void WriteV1_BothIpv4Mapped_WritesTcp4()
    {
        Assert.Equal(
            "PROXY TCP4 192.0.2.1 198.51.100.2 1025 25\r\n",
            V1(EndPoint("::ffff:192.0.2.1", 1025), EndPoint("::ffff:198.51.100.2", 25)));
    }

    [Fact]
    public void WriteV1_MappedSourceAndPlainIpv4Destination_WritesTcp4()
    {
        Assert.Equal(
            "PROXY TCP4 192.0.2.1 198.51.100.2 1025 25\r\n",
            V1(EndPoint("::ffff:192.0.2.1", 1025), EndPoint("198.51.100.2", 25)));
    }

    [Fact]
    public void WriteV1_Ipv6SourceIpv4Destination_MapsDestinationToIpv6()
    {
        Assert.Equal(
            "PROXY TCP6 2001:db8::1 ::ffff:198.51.100.2 1025 25\r\n",
            V1(EndPoint("2001:db8::1", 1025), EndPoint("198.51.100.2", 25)));
    }

    [Fact]
    public void WriteV1_Ipv4SourceIpv6Destination_MapsDestinationToIpv4()
    {
        // The source family wins; the destination keeps its low 32 bits.
        Assert.Equal(
            "PROXY TCP4 192.0.2.1 198.51.100.2 1025 25\r\n",
            V1(EndPoint("192.0.2.1", 1025), EndPoint("2001:db8::c633:6402", 25)));
    }

    [Fact]
    public void WriteV1_ScopedIpv6_OmitsScope()
    {
        Assert.Equal("PROXY TCP6 fe80::1 fe80::2 1 2\r\n", V1(EndPoint("fe80::1%2", 1), EndPoint("fe80::2%2", 2)));
    }

    [Fact]
    public void WriteV1_LongestAddressesAndPorts_AtMost107Octets()
    {
        const string Longest = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe";

        var line = V1(EndPoint(Longest, 65535), EndPoint(Longest, 65535));

        Assert.Equal($"PROXY TCP6 {Longest} {Longest} 65535 65535\r\n", line);
        Assert.True(line.Length <= 107);
    }

    [Fact]
    public void WriteV2_Ipv4_WritesPreambleAndTwelveByteBlock()
    {
        var header = V2(EndPoint("192.0.2.1", 56324), EndPoint("198.51.100.2", 25));

        byte[] expected =
        [
            .. Signature,
            0x21, 0x11, 0x00, 0x0C,
            192, 0, 2, 1,
            198, 51, 100, 2,
            0xDC, 0x04,
            0x00, 0x19,
        ];
        Assert.Equal(expected, header);
    }

    [Fact]
    public void WriteV2_Ipv6_WritesPreambleAndThirtySixByteBlock()
    {
        var header = V2(EndPoint("2001:db8::1", 443), EndPoint("2001:db8::2", 65535));

        byte[] expected =
        [
            .. Signature,
            0x21, 0x21, 0x00, 0x24,
            0x20, 0x01, 0x0D, 0xB8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
            0x20, 0x01, 0x0D, 0xB8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02,
            0x01, 0xBB,
            0xFF, 0xFF,
        ];
        Assert.Equal(expected, header);
    }

    [Fact]
    public void WriteV2_Ipv4Mapped_WritesTcp4()
    {
        var header = V2(EndPoint("::ffff:192.0.2.1", 1), EndPoint("::ffff:198.51.100.2", 2));

        Assert.Equal(28, header.Length);
        Assert.Equal(0x11, header[13]);
        Assert.Equal(new byte[] { 192, 0, 2, 1, 198, 51, 100, 2, 0, 1, 0, 2 }, header[16..]);
    }

    [Fact]
    public void WriteV2_Ipv6SourceIpv4Destination_MapsDestinationToIpv6()
    {
        var header = V2(EndPoint("2001:db8::1", 1), EndPoint("198.51.100.2", 2));

        Assert.Equal(52, header.Length);
        Assert.Equal(0x21, header[13]);
        Assert.Equal(
            new byte[] { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 198, 51, 100, 2 },
            header[32..48]);
    }

    [Fact]
    public void WriteV2_AppendsAfterExistingContent()
    {
        var writer = new ArrayBufferWriter<byte>(1);
        writer.Write("x"u8);

        ProxyProtocolHeader.WriteV2(writer, EndPoint("192.0.2.1", 1), EndPoint("192.0.2.2", 2));

        Assert.Equal(29, writer.WrittenCount);
        Assert.Equal((byte)'x', writer.WrittenSpan[0]);
        Assert.True(writer.WrittenSpan[1..13].SequenceEqual(Signature));
    }

    [Fact]
    public void WriteV2_Ipv4WithTls_AppendsSslTlvAndCountsItInLength()
    {
        var header = V2(
            EndPoint("192.0.2.1", 56324),
            EndPoint("198.51.100.2", 25),
            new ProxyTlsInfo("TLSv1.3", "TLS_AES_256_GCM_SHA384"));

        byte[] expected =
        [
            .. Signature,
            0x21, 0x11,
            0x00, 0x37,             // 55 = 12 (address block) + 43 (SSL TLV)
            192, 0, 2, 1,
            198, 51, 100, 2,
            0xDC, 0x04,
            0x00, 0x19,

            0x20,                   // PP2_TYPE_SSL
            0x00, 0x28,             // 40 = 1 (client) + 4 (verify) + 10 (version TLV) + 25 (cipher TLV)
            0x01,                   // client: PP2_CLIENT_SSL only, no client certificate
            0x00, 0x00, 0x00, 0x01, // verify: non-zero, no certificate was presented so none was verified

            0x21,                   // PP2_SUBTYPE_SSL_VERSION
            0x00, 0x07,
            0x54, 0x4C, 0x53, 0x76, 0x31, 0x2E, 0x33, // "TLSv1.3"

            0x23,                   // PP2_SUBTYPE_SSL_CIPHER
            0x00, 0x16,             // 22
            0x54, 0x4C, 0x53, 0x5F, // "TLS_"
            0x41, 0x45, 0x53, 0x5F, // "AES_"
            0x32, 0x35, 0x36, 0x5F, // "256_"
            0x47, 0x43, 0x4D, 0x5F, // "GCM_"
            0x53, 0x48, 0x41, 0x33, 0x38, 0x34, // "SHA384"
        ];
        Assert.Equal(expected, header);
    }

    [Fact]
    public void WriteV2_Ipv6WithTls_AppendsSslTlvAndCountsItInLength()
    {
        var header = V2(
            EndPoint("2001:db8::1", 443),
            EndPoint("2001:db8::2", 65535),
            new ProxyTlsInfo("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256"));

        byte[] expected =
        [
            .. Signature,
            0x21, 0x21,
            0x00, 0x54,             // 84 = 36 (address block) + 48 (SSL TLV)
            0x20, 0x01, 0x0D, 0xB8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
            0x20, 0x01, 0x0D, 0xB8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02,
            0x01, 0xBB,
            0xFF, 0xFF,

            0x20,                   // PP2_TYPE_SSL
            0x00, 0x2D,             // 45 = 1 (client) + 4 (verify) + 10 (version TLV) + 30 (cipher TLV)
            0x01,                   // client: PP2_CLIENT_SSL
            0x00, 0x00, 0x00, 0x01, // verify: non-zero

            0x21,                   // PP2_SUBTYPE_SSL_VERSION
            0x00, 0x07,
            0x54, 0x4C, 0x53, 0x76, 0x31, 0x2E, 0x32, // "TLSv1.2"

            0x23,                   // PP2_SUBTYPE_SSL_CIPHER
            0x00, 0x1B,             // 27
            0x45, 0x43, 0x44, 0x48, 0x45, 0x2D, // "ECDHE-"
            0x52, 0x53, 0x41, 0x2D, // "RSA-"
            0x41, 0x45, 0x53, 0x31, 0x32, 0x38, 0x2D, // "AES128-"
            0x47, 0x43, 0x4D, 0x2D, // "GCM-"
            0x53, 0x48, 0x41, 0x32, 0x35, 0x36, // "SHA256"
        ];
        Assert.Equal(expected, header);
    }

    [Theory]
    [InlineData("192.0.2.1", "198.51.100.2", "TLSv1.3", "TLS_AES_128_GCM_SHA256")]
    [InlineData("2001:db8::1", "2001:db8::2", "TLSv1.3", "TLS_CHACHA20_POLY1305_SHA256")]
    [InlineData("192.0.2.1", "198.51.100.2", "T", "C")]
    [InlineData("2001:db8::1", "198.51.100.2", "TLSv1", "AES256-SHA with spaces ~!")]
    public void WriteV2_WithTls_LengthFieldsMatchWhatFollows(string source, string destination, string version, string cipher)
    {
        var header = V2(EndPoint(source, 1), EndPoint(destination, 2), new ProxyTlsInfo(version, cipher));

        // Preamble length = every octet after the 16-octet preamble.
        Assert.Equal(header.Length - 16, (header[14] << 8) | header[15]);

        var addressLength = header[13] == 0x11 ? 12 : 36;
        var ssl = header.AsSpan(16 + addressLength);
        Assert.Equal(0x20, ssl[0]);

        // SSL TLV length = everything after its own 3-octet type/length.
        Assert.Equal(ssl.Length - 3, (ssl[1] << 8) | ssl[2]);

        var versionTlv = ssl[8..];
        Assert.Equal(0x21, versionTlv[0]);
        Assert.Equal(version.Length, (versionTlv[1] << 8) | versionTlv[2]);
        Assert.Equal(version, Bytes.Text(versionTlv.Slice(3, version.Length)));

        var cipherTlv = versionTlv[(3 + version.Length)..];
        Assert.Equal(0x23, cipherTlv[0]);
        Assert.Equal(cipher.Length, (cipherTlv[1] << 8) | cipherTlv[2]);
        Assert.Equal(3 + cipher.Length, cipherTlv.Length);
        Assert.Equal(cipher, Bytes.Text(cipherTlv[3..]));
    }

    [Theory]
    [InlineData("192.0.2.1", "198.51.100.2")]
    [InlineData("2001:db8::1", "2001:db8::2")]
    [InlineData("::ffff:192.0.2.1", "198.51.100.2")]
    [InlineData("2001:db8::1", "198.51.100.2")]
    public void WriteV2_NullTls_SameBytesAsThreeArgumentOverload(string source, string destination)
    {
        var withoutTls = V2(EndPoint(source, 56324), EndPoint(destination, 25), null);

        Assert.Equal(V2(EndPoint(source, 56324), EndPoint(destination, 25)), withoutTls);
        Assert.Equal(withoutTls.Length - 16, (withoutTls[14] << 8) | withoutTls[15]);
    }

    [Fact]
    public void WriteV2_WithTls_AppendsAfterExistingContent()
    {
        var writer = new ArrayBufferWriter<byte>(1);
        writer.Write("x"u8);

        ProxyProtocolHeader.WriteV2(writer, EndPoint("192.0.2.1", 1), EndPoint("192.0.2.2", 2), new ProxyTlsInfo("TLSv1.3", "C"));

        // 1 + 16 + 12 + (3 + 5 + 3 + 7 + 3 + 1)
        Assert.Equal(51, writer.WrittenCount);
        Assert.Equal((byte)'x', writer.WrittenSpan[0]);
        Assert.True(writer.WrittenSpan[1..13].SequenceEqual(Signature));
    }

    [Fact]
    public void WriteV2_LongestAllowedTlsValues_StayWellUnder64KiB()
    {
        string longest = new('A', 255);

        var header = V2(EndPoint("2001:db8::1", 1), EndPoint("2001:db8::2", 2), new ProxyTlsInfo(longest, longest));

        Assert.Equal(16 + 36 + 3 + 5 + (2 * (3 + 255)), header.Length);
        Assert.Equal(header.Length - 16, (header[14] << 8) | header[15]);
    }

    [Theory]
    [InlineData("")]
    [InlineData("TLSv1.3\r\n")]
    [InlineData("TLS\0v1.3")]
    [InlineData("TLS\tv1.3")]
    [InlineData("TLSv1.3\u007F")]
    [InlineData("TLSv1.3\u00E9")]
    [InlineData("TLS\u2013v1.3")]
    [InlineData("\uD83D\uDD12")]
    public void WriteV2_InvalidTlsValue_ThrowsAndWritesNothing(string bad)
    {
        AssertRefused(new ProxyTlsInfo(bad, "TLS_AES_256_GCM_SHA384"));
        AssertRefused(new ProxyTlsInfo("TLSv1.3", bad));
    }

    [Fact]
    public void WriteV2_TlsValueLongerThan255_Throws()
    {
        string tooLong = new('A', 256);

        AssertRefused(new ProxyTlsInfo(tooLong, "TLS_AES_256_GCM_SHA384"));
        AssertRefused(new ProxyTlsInfo("TLSv1.3", tooLong));
    }

    [Fact]
    public void WriteV2_NullOrDefaultTlsValues_Throw()
    {
        AssertRefused(default(ProxyTlsInfo));
        AssertRefused(new ProxyTlsInfo(null!, "TLS_AES_256_GCM_SHA384"));
        AssertRefused(new ProxyTlsInfo("TLSv1.3", null!));
    }

    private static void AssertRefused(ProxyTlsInfo tls)
    {
        var writer = new ArrayBufferWriter<byte>();

        var exception = Assert.Throws<ArgumentException>(
            () => ProxyProtocolHeader.WriteV2(writer, EndPoint("192.0.2.1", 1), EndPoint("192.0.2.2", 2), tls));

        Assert.Equal("tls", exception.ParamName);
        Assert.Equal(0, writer.WrittenCount);
    }
}
