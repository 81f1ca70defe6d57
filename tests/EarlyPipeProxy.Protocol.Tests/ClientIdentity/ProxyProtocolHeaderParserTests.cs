using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using EarlyPipeProxy.Protocol.ClientIdentity;
using EarlyPipeProxy.Protocol.Tests.TestSupport;

namespace EarlyPipeProxy.Protocol.Tests.ClientIdentity;

/// <summary>The receiving side of the PROXY protocol: what a load balancer's header says, and what is refused.</summary>
public sealed class ProxyProtocolHeaderParserTests
{
    private static readonly byte[] Signature = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A];

    private static IPEndPoint EndPoint(string address, int port) => new(IPAddress.Parse(address), port);

    private static ProxyHeader Parse(byte[] octets) => ProxyProtocolHeaderParser.Parse(new ReadOnlySequence<byte>(octets));

    private static ProxyHeader Parse(string text) => ProxyProtocolHeaderParser.Parse(Bytes.Sequence(text));

    private static byte[] Built(Action<ArrayBufferWriter<byte>> write)
    {
        var writer = new ArrayBufferWriter<byte>();
        write(writer);
        return writer.WrittenSpan.ToArray();
    }

    /// <summary>A v2 preamble with the given version/command and family octets and block, as a balancer would send it.</summary>
    private static byte[] V2(byte versionCommand, byte family, byte[] block)
    {
        var header = new byte[16 + block.Length];
        Signature.CopyTo(header, 0);
        header[12] = versionCommand;
        header[13] = family;
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(14), (ushort)block.Length);
        block.CopyTo(header, 16);
        return header;
    }

    private static byte[] Tcp4Block(string source, string destination, ushort sourcePort, ushort destinationPort)
    {
        var block = new byte[12];
        IPAddress.Parse(source).TryWriteBytes(block.AsSpan(0, 4), out _);
        IPAddress.Parse(destination).TryWriteBytes(block.AsSpan(4, 4), out _);
        BinaryPrimitives.WriteUInt16BigEndian(block.AsSpan(8), sourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(block.AsSpan(10), destinationPort);
        return block;
    }

    [Theory]
    [InlineData("192.0.2.1", 56324, "198.51.100.2", 25)]
    [InlineData("2001:db8::1", 65535, "2001:db8:0:1::2", 587)]
    [InlineData("0.0.0.0", 0, "255.255.255.255", 1)]
    public void V1_written_by_the_builder_reads_back(string source, int sourcePort, string destination, int destinationPort)
    {
        var octets = Built(w => ProxyProtocolHeader.WriteV1(w, EndPoint(source, sourcePort), EndPoint(destination, destinationPort)));

        var header = Parse(octets);

        Assert.Equal(ProxyHeaderStatus.Proxied, header.Status);
        Assert.Equal(1, header.Version);
        Assert.Equal(octets.Length, header.Length);
        Assert.Equal(EndPoint(source, sourcePort), header.Source);
        Assert.Equal(EndPoint(destination, destinationPort), header.Destination);
    }

    [Theory]
    [InlineData("203.0.113.7", 40312, "192.0.2.25", 25)]
    [InlineData("2001:db8::7", 1, "2001:db8::25", 25)]
    public void V2_written_by_the_builder_reads_back_with_its_tls_tlv_skipped(string source, int sourcePort, string destination, int destinationPort)
    {
        var plain = Built(w => ProxyProtocolHeader.WriteV2(w, EndPoint(source, sourcePort), EndPoint(destination, destinationPort)));
        var withTlv = Built(w => ProxyProtocolHeader.WriteV2(w, EndPoint(source, sourcePort), EndPoint(destination, destinationPort),
            new ProxyTlsInfo("TLSv1.3", "TLS_AES_256_GCM_SHA384")));

        foreach (var octets in new[] { plain, withTlv })
        {
            var header = Parse(octets);
            Assert.Equal(ProxyHeaderStatus.Proxied, header.Status);
            Assert.Equal(2, header.Version);
            Assert.Equal(octets.Length, header.Length);
            Assert.Equal(EndPoint(source, sourcePort), header.Source);
            Assert.Equal(EndPoint(destination, destinationPort), header.Destination);
        }

        Assert.True(withTlv.Length > plain.Length);
    }

    [Fact]
    public void The_smtp_that_follows_the_header_is_not_part_of_it()
    {
        var header = Built(w => ProxyProtocolHeader.WriteV2(w, EndPoint("203.0.113.7", 40312), EndPoint("192.0.2.25", 25)));
        var octets = header.Concat("EHLO client.example\r\n"u8.ToArray()).ToArray();

        var parsed = Parse(octets);

        Assert.Equal(ProxyHeaderStatus.Proxied, parsed.Status);
        Assert.Equal(header.Length, parsed.Length);
        Assert.Equal(ProxyHeaderStatus.Proxied, Parse("PROXY TCP4 203.0.113.7 192.0.2.25 40312 25\r\nEHLO x\r\n").Status);
        Assert.Equal(44, Parse("PROXY TCP4 203.0.113.7 192.0.2.25 40312 25\r\nEHLO x\r\n").Length);
    }

    [Fact]
    public void Every_split_of_a_header_is_incomplete_until_its_last_octet()
    {
        var v1 = Bytes.Of("PROXY TCP6 2001:db8::7 2001:db8::25 40312 25\r\n");
        var v2 = Built(w => ProxyProtocolHeader.WriteV2(w, EndPoint("2001:db8::7", 40312), EndPoint("2001:db8::25", 25), new ProxyTlsInfo("TLSv1.2", "X")));
        foreach (var octets in new[] { v1, v2 })
        {
            for (var cut = 0; cut < octets.Length; cut++)
            {
                var prefix = Parse(octets[..cut]);
                Assert.True(prefix.Status == ProxyHeaderStatus.Incomplete, $"{cut} of {octets.Length} octets: {prefix}");
                Assert.Equal(0, prefix.Length);
            }

            // The same octets over segments of every size read as the whole.
            var text = Bytes.Text(octets);
            for (var cut = 1; cut < octets.Length; cut++)
            {
                var split = ProxyProtocolHeaderParser.Parse(Bytes.SplitAt(text, cut));
                Assert.Equal(ProxyHeaderStatus.Proxied, split.Status);
                Assert.Equal(octets.Length, split.Length);
            }

            Assert.Equal(ProxyHeaderStatus.Proxied, ProxyProtocolHeaderParser.Parse(Bytes.OneBytePerSegment(text)).Status);
        }
    }

    [Theory]
    [InlineData("EHLO client.example\r\n")]
    [InlineData("HELO x\r\n")]
    [InlineData("POST / HTTP/1.1\r\n")]
    [InlineData("PROXX TCP4")]
    [InlineData("proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n")]
    [InlineData("\r\n\r\n\r\n")]
    [InlineData("\r\n\r\n\0\r\nQUIX")]
    [InlineData("\x16\x03\x01\x02\x00")]
    public void Octets_that_do_not_start_a_header_are_not_one(string text)
    {
        Assert.Equal(ProxyHeaderStatus.NotAHeader, Parse(text).Status);
    }

    [Theory]
    [InlineData("P")]
    [InlineData("PROXY")]
    [InlineData("PROXY TCP4 1.2.3.4")]
    [InlineData("\r")]
    [InlineData("\r\n")]
    [InlineData("\r\n\r\n\0\r\nQUIT\n\x21\x11\x00")]
    public void A_beginning_that_could_still_be_a_header_asks_for_more(string text)
    {
        Assert.Equal(ProxyHeaderStatus.Incomplete, Parse(text).Status);
    }

    [Theory]
    [InlineData("PROXY UNKNOWN\r\n")]
    [InlineData("PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n")]
    public void V1_unknown_is_the_balancers_own_connection(string text)
    {
        var header = Parse(text + "EHLO x\r\n");

        Assert.Equal(ProxyHeaderStatus.Local, header.Status);
        Assert.Equal(text.Length, header.Length);
        Assert.Null(header.Source);
    }

    [Theory]
    [InlineData("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", "CRLF")]
    [InlineData("PROXY \r\n", "TCP4, TCP6 or UNKNOWN")]
    [InlineData("PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", "TCP4, TCP6 or UNKNOWN")]
    [InlineData("PROXY TCP4\r\n", "without addresses")]
    [InlineData("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", "two ports")]
    [InlineData("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", "two ports")]
    [InlineData("PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n", "two ports")]
    [InlineData("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", "two ports")]
    [InlineData("PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", "dotted quad")]
    [InlineData("PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n", "dotted quad")]
    [InlineData("PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n", "dotted quad")]
    [InlineData("PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n", "dotted quad")]
    [InlineData("PROXY TCP4 2001:db8::1 5.6.7.8 1 2\r\n", "dotted quad")]
    [InlineData("PROXY TCP4 1 5.6.7.8 1 2\r\n", "dotted quad")]
    [InlineData("PROXY TCP6 1.2.3.4 2001:db8::1 1 2\r\n", "IPv6")]
    [InlineData("PROXY TCP6 fe80::1%eth0 2001:db8::1 1 2\r\n", "IPv6")]
    [InlineData("PROXY TCP6 [2001:db8::1] 2001:db8::1 1 2\r\n", "IPv6")]
    [InlineData("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", "port")]
    [InlineData("PROXY TCP4 1.2.3.4 5.6.7.8 025 2\r\n", "port")]
    [InlineData("PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n", "port")]
    [InlineData("PROXY TCP4 1.2.3.4 5.6.7.8 1 +2\r\n", "port")]
    public void A_malformed_v1_line_is_refused(string text, string because)
    {
        var header = Parse(text);

        Assert.Equal(ProxyHeaderStatus.Invalid, header.Status);
        Assert.Contains(because, header.Problem, StringComparison.Ordinal);
        Assert.Equal(0, header.Length);
    }

    [Fact]
    public void A_v1_line_is_at_most_107_octets()
    {
        // The specification's worst case: UNKNOWN with two full-length IPv6 addresses and two five-digit ports.
        const string FullIpv6 = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
        var longest = $"PROXY UNKNOWN {FullIpv6} {FullIpv6} 65535 65535\r\n";
        Assert.Equal(ProxyProtocolHeaderParser.MaxV1Length, longest.Length);
        Assert.Equal(ProxyHeaderStatus.Local, Parse(longest).Status);
        var longestTcp6 = $"PROXY TCP6 {FullIpv6} {FullIpv6} 65535 65535\r\n";
        Assert.Equal(ProxyHeaderStatus.Proxied, Parse(longestTcp6).Status);
        Assert.Equal(longestTcp6.Length, Parse(longestTcp6).Length);

        var tooLong = "PROXY UNKNOWN " + new string('x', 93) + "\r\n";
        Assert.Equal(109, tooLong.Length);
        Assert.Equal(ProxyHeaderStatus.Invalid, Parse(tooLong).Status);
        // Without a line end the parser decides at 107 octets, however many more are buffered: it never looks further.
        Assert.Equal(ProxyHeaderStatus.Incomplete, Parse("PROXY UNKNOWN " + new string('x', 92)).Status);
        Assert.Equal(ProxyHeaderStatus.Invalid, Parse("PROXY UNKNOWN " + new string('x', 93)).Status);
        Assert.Equal(ProxyHeaderStatus.Invalid, Parse("PROXY UNKNOWN " + new string('x', 100_000)).Status);
    }

    [Fact]
    public void V2_local_is_the_balancers_own_connection_whatever_its_block_says()
    {
        var empty = V2(0x20, 0x00, []);
        var withBlock = V2(0x20, 0x11, Tcp4Block("203.0.113.7", "192.0.2.25", 1, 25));
        var withUnixBlock = V2(0x20, 0x31, new byte[216]);

        foreach (var octets in new[] { empty, withBlock, withUnixBlock })
        {
            var header = Parse(octets.Concat("EHLO"u8.ToArray()).ToArray());
            Assert.Equal(ProxyHeaderStatus.Local, header.Status);
            Assert.Equal(octets.Length, header.Length);
            Assert.Null(header.Source);
        }
    }

    [Fact]
    public void V2_tlvs_of_any_kind_are_skipped_up_to_the_bound()
    {
        var tlvs = new byte[ProxyProtocolHeaderParser.MaxV2Length - 16 - 12];
        tlvs[0] = 0x04; // PP2_TYPE_NOOP, then its length: the rest
        BinaryPrimitives.WriteUInt16BigEndian(tlvs.AsSpan(1), (ushort)(tlvs.Length - 3));
        var octets = V2(0x21, 0x11, [.. Tcp4Block("203.0.113.7", "192.0.2.25", 40312, 25), .. tlvs]);
        Assert.Equal(ProxyProtocolHeaderParser.MaxV2Length, octets.Length);

        var header = Parse(octets);

        Assert.Equal(ProxyHeaderStatus.Proxied, header.Status);
        Assert.Equal(EndPoint("203.0.113.7", 40312), header.Source);
        Assert.Equal(octets.Length, header.Length);
    }

    [Fact]
    public void A_v2_header_longer_than_the_bound_is_refused_from_its_preamble_alone()
    {
        var preamble = V2(0x21, 0x11, [])[..16];
        BinaryPrimitives.WriteUInt16BigEndian(preamble.AsSpan(14), ProxyProtocolHeaderParser.MaxV2Length - 16 + 1);

        var header = Parse(preamble);

        Assert.Equal(ProxyHeaderStatus.Invalid, header.Status);
        Assert.Contains("longer than", header.Problem, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0x11, 0x11, "version")]
    [InlineData(0x31, 0x11, "version")]
    [InlineData(0x22, 0x11, "neither LOCAL nor PROXY")]
    [InlineData(0x2F, 0x11, "neither LOCAL nor PROXY")]
    [InlineData(0x21, 0x12, "UDP")]
    [InlineData(0x21, 0x22, "UDP")]
    [InlineData(0x21, 0x31, "AF_UNIX")]
    [InlineData(0x21, 0x32, "AF_UNIX")]
    [InlineData(0x21, 0x00, "AF_UNSPEC")]
    [InlineData(0x21, 0x41, "unknown")]
    [InlineData(0x21, 0x13, "unknown")]
    public void A_v2_header_of_an_unknown_version_command_or_family_is_refused(byte versionCommand, byte family, string because)
    {
        var header = Parse(V2(versionCommand, family, new byte[216]));

        Assert.Equal(ProxyHeaderStatus.Invalid, header.Status);
        Assert.Contains(because, header.Problem, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0x11, 11)]
    [InlineData(0x21, 35)]
    [InlineData(0x21, 12)]
    public void A_v2_address_block_too_short_for_its_family_is_refused(byte family, int blockLength)
    {
        var header = Parse(V2(0x21, family, new byte[blockLength]));

        Assert.Equal(ProxyHeaderStatus.Invalid, header.Status);
        Assert.Contains("shorter", header.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void V2_ipv4_mapped_addresses_read_as_ipv4()
    {
        var block = new byte[36];
        IPAddress.Parse("::ffff:203.0.113.7").TryWriteBytes(block.AsSpan(0, 16), out _);
        IPAddress.Parse("::ffff:192.0.2.25").TryWriteBytes(block.AsSpan(16, 16), out _);
        BinaryPrimitives.WriteUInt16BigEndian(block.AsSpan(32), 40312);
        BinaryPrimitives.WriteUInt16BigEndian(block.AsSpan(34), 25);

        var header = Parse(V2(0x21, 0x21, block));

        Assert.Equal(EndPoint("203.0.113.7", 40312), header.Source);
        Assert.Equal(EndPoint("192.0.2.25", 25), header.Destination);
    }

    [Fact]
    public void Random_octets_never_throw_and_never_claim_more_than_they_are()
    {
        var random = new Random(13);
        for (var i = 0; i < 20_000; i++)
        {
            var octets = new byte[random.Next(0, 300)];
            random.NextBytes(octets);
            // Half of them start with a signature, so that the parser's deeper paths see noise too.
            switch (i % 4)
            {
                case 0 when octets.Length >= 16:
                    Signature.CopyTo(octets, 0);
                    break;
                case 1 when octets.Length >= 6:
                    "PROXY "u8.CopyTo(octets);
                    break;
            }

            var header = Parse(octets);
            Assert.InRange(header.Length, 0, octets.Length);
            Assert.True(header.Status is ProxyHeaderStatus.Proxied or ProxyHeaderStatus.Local || header.Length == 0);
            Assert.True(header.Status != ProxyHeaderStatus.Invalid || !string.IsNullOrEmpty(header.Problem));
        }
    }

    [Theory]
    [InlineData("PROXY TCP4 203.0.113.7 192.0.2.25 40312 25\r\n", true)]
    [InlineData("PROXY garbage", true)]
    [InlineData("PROXY ", true)]
    [InlineData("PROXYX\r\n", false)]
    [InlineData("proxy TCP4", false)]
    [InlineData("PROX", false)]
    [InlineData("EHLO client.example\r\n", false)]
    [InlineData("\r\n\r\n\0\r\nQUIT\n!", true)]
    [InlineData("\r\n\r\n\0\r\nQUIT", false)]
    [InlineData("\r\nEHLO x\r\n", false)]
    [InlineData("", false)]
    public void A_signature_is_told_from_a_command_valid_or_not(string first, bool expected)
    {
        Assert.Equal(expected, ProxyProtocolHeaderParser.StartsWithSignature(Bytes.Sequence(first)));
    }

    [Fact]
    public void A_v2_signature_split_across_segments_is_seen()
    {
        Assert.True(ProxyProtocolHeaderParser.StartsWithSignature(Bytes.OneBytePerSegment(System.Text.Encoding.Latin1.GetString(Signature))));
    }
}
