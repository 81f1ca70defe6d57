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
}
