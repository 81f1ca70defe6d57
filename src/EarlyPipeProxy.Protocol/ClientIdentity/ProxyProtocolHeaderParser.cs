using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace EarlyPipeProxy.Protocol.ClientIdentity;

/// <summary>
/// Reads the PROXY header (HAProxy's proxy-protocol.txt, v1 and v2) a load balancer sends before any SMTP octet: the
/// receiving side of <see cref="ProxyProtocolHeader"/>. Bounded: a v1 line is at most <see cref="MaxV1Length"/> octets
/// with its CRLF, a v2 header at most <see cref="MaxV2Length"/>; the parser never looks further, so a peer streaming
/// octets costs one bounded look per read. Incomplete input consumes nothing (<see cref="ProxyHeaderStatus.Incomplete"/>),
/// so any split of the octets reads as the whole.
/// </summary>
/// <remarks>
/// Refused (<see cref="ProxyHeaderStatus.Invalid"/>): a v2 version other than 2, a command other than LOCAL or PROXY,
/// PROXY over UDP (DGRAM), over AF_UNIX (a client the backend could not be told about in address terms) or over
/// AF_UNSPEC (the specification lets the receiver refuse it: it names no client, and taking the balancer's own address
/// for one would vouch for a connection nobody can identify); a v1 line without its CRLF within 107 octets, with a
/// protocol other than TCP4, TCP6 or UNKNOWN, or with an address or port out of its syntax. Accepted without a client
/// (<see cref="ProxyHeaderStatus.Local"/>): v2 LOCAL, whatever its address block says (the specification: the receiver
/// must use the real connection endpoints), and v1 UNKNOWN (likewise). TLVs after a v2 address block are skipped.
/// </remarks>
public static class ProxyProtocolHeaderParser
{
    /// <summary>proxy-protocol.txt §2.1: "PROXY TCP6" with two full IPv6 addresses and two ports is 107 octets with its CRLF.</summary>
    public const int MaxV1Length = 107;

    /// <summary>
    /// The longest v2 header taken, preamble, address block and TLVs: the 16-bit length allows 64 KiB, balancers send a
    /// few dozen octets (an IPv6 block is 36; HAProxy's and the clouds' TLVs a few hundred at most).
    /// </summary>
    public const int MaxV2Length = 2048;

    private const int V2PreambleLength = 16;
    private const int V2Tcp4AddressLength = 12;
    private const int V2Tcp6AddressLength = 36;

    // The preamble and the largest address block the parser reads (AF_UNIX's 216 is refused before it is read).
    private const int LookAhead = V2PreambleLength + V2Tcp6AddressLength;

    private static ReadOnlySpan<byte> V1Prefix => "PROXY "u8;

    private static ReadOnlySpan<byte> V2Signature => "\r\n\r\n\0\r\nQUIT\n"u8;

    /// <summary>
    /// Whether <paramref name="input"/> opens with a PROXY header's signature (v1 "PROXY " or v2's twelve octets), valid or
    /// not: octets a balancer sends and no SMTP client does, so a server can tell a header from someone it takes none
    /// from apart from a client's first command.
    /// </summary>
    public static bool StartsWithSignature(in ReadOnlySequence<byte> input)
    {
        Span<byte> head = stackalloc byte[V2Signature.Length];
        var available = (int)Math.Min(input.Length, head.Length);
        input.Slice(0, available).CopyTo(head);
        head = head[..available];
        return head.StartsWith(V1Prefix) || head.StartsWith(V2Signature);
    }

    /// <summary>Reads <paramref name="input"/>, the connection's first octets (more may follow a complete header: SMTP, TLS).</summary>
    public static ProxyHeader Parse(in ReadOnlySequence<byte> input)
    {
        if (input.IsEmpty)
        {
            return ProxyHeader.Incomplete(0);
        }

        var first = input.FirstSpan[0];
        if (first == V1Prefix[0])
        {
            Span<byte> line = stackalloc byte[MaxV1Length];
            var available = (int)Math.Min(input.Length, MaxV1Length);
            input.Slice(0, available).CopyTo(line);
            return ParseV1(line[..available]);
        }

        if (first == V2Signature[0])
        {
            Span<byte> head = stackalloc byte[LookAhead];
            var available = (int)Math.Min(input.Length, LookAhead);
            input.Slice(0, available).CopyTo(head);
            return ParseV2(head[..available], input.Length);
        }

        return ProxyHeader.NotAHeader;
    }

    private static ProxyHeader ParseV1(ReadOnlySpan<byte> octets)
    {
        var prefix = Math.Min(octets.Length, V1Prefix.Length);
        if (!octets[..prefix].SequenceEqual(V1Prefix[..prefix]))
        {
            return ProxyHeader.NotAHeader;
        }

        var lf = octets.IndexOf((byte)'\n');
        if (lf < 0)
        {
            return octets.Length >= MaxV1Length ? ProxyHeader.Invalid(1, "v1 header without CRLF within 107 octets") : ProxyHeader.Incomplete(1);
        }

        if (lf < V1Prefix.Length + 1 || octets[lf - 1] != (byte)'\r')
        {
            return ProxyHeader.Invalid(1, "v1 header not ended by CRLF");
        }

        var length = lf + 1;
        var fields = octets[V1Prefix.Length..(lf - 1)];
        var protocolEnd = fields.IndexOf((byte)' ');
        var protocol = protocolEnd < 0 ? fields : fields[..protocolEnd];
        if (protocol.SequenceEqual("UNKNOWN"u8))
        {
            // §2.1: the rest of the line up to the CRLF is to be ignored, and the real connection endpoints used.
            return ProxyHeader.Local(1, length);
        }

        AddressFamily family;
        if (protocol.SequenceEqual("TCP4"u8))
        {
            family = AddressFamily.InterNetwork;
        }
        else if (protocol.SequenceEqual("TCP6"u8))
        {
            family = AddressFamily.InterNetworkV6;
        }
        else
        {
            return ProxyHeader.Invalid(1, "v1 protocol is not TCP4, TCP6 or UNKNOWN");
        }

        if (protocolEnd < 0)
        {
            return ProxyHeader.Invalid(1, "v1 header without addresses");
        }

        // Exactly one space between fields (§2.1), so the line splits into exactly four more.
        Span<Range> parts = stackalloc Range[5];
        var rest = fields[(protocolEnd + 1)..];
        var count = SplitBySpace(rest, parts);
        if (count != 4)
        {
            return ProxyHeader.Invalid(1, "v1 header does not have source, destination and two ports");
        }

        if (!TryParseAddress(rest[parts[0]], family, out var source) || !TryParseAddress(rest[parts[1]], family, out var destination))
        {
            return ProxyHeader.Invalid(1, family == AddressFamily.InterNetwork ? "v1 TCP4 address is not a dotted quad" : "v1 TCP6 address is not an IPv6 address");
        }

        if (!TryParsePort(rest[parts[2]], out var sourcePort) || !TryParsePort(rest[parts[3]], out var destinationPort))
        {
            return ProxyHeader.Invalid(1, "v1 port is not a number from 0 to 65535");
        }

        return ProxyHeader.Proxied(1, length, new IPEndPoint(Unmapped(source), sourcePort), new IPEndPoint(Unmapped(destination), destinationPort));
    }

    private static ProxyHeader ParseV2(ReadOnlySpan<byte> head, long available)
    {
        var signature = Math.Min(head.Length, V2Signature.Length);
        if (!head[..signature].SequenceEqual(V2Signature[..signature]))
        {
            return ProxyHeader.NotAHeader;
        }

        if (head.Length < V2PreambleLength)
        {
            return ProxyHeader.Incomplete(2);
        }

        var version = head[12] >> 4;
        var command = head[12] & 0x0F;
        if (version != 2)
        {
            return ProxyHeader.Invalid(2, "v2 signature with a version other than 2");
        }

        if (command > 1)
        {
            return ProxyHeader.Invalid(2, "v2 command is neither LOCAL nor PROXY");
        }

        var blockLength = BinaryPrimitives.ReadUInt16BigEndian(head[14..]);
        var length = V2PreambleLength + blockLength;
        if (length > MaxV2Length)
        {
            return ProxyHeader.Invalid(2, $"v2 header longer than {MaxV2Length} octets");
        }

        if (available < length)
        {
            return ProxyHeader.Incomplete(2);
        }

        if (command == 0)
        {
            // LOCAL (§2.2): the balancer's own connection, a health check; the address block is ignored whatever it is.
            return ProxyHeader.Local(2, length);
        }

        var block = head[V2PreambleLength..];
        switch (head[13])
        {
            case 0x11 when blockLength >= V2Tcp4AddressLength:
                return ProxyHeader.Proxied(2, length,
                    new IPEndPoint(new IPAddress(block[..4]), BinaryPrimitives.ReadUInt16BigEndian(block[8..])),
                    new IPEndPoint(new IPAddress(block[4..8]), BinaryPrimitives.ReadUInt16BigEndian(block[10..])));
            case 0x21 when blockLength >= V2Tcp6AddressLength:
                return ProxyHeader.Proxied(2, length,
                    new IPEndPoint(Unmapped(new IPAddress(block[..16])), BinaryPrimitives.ReadUInt16BigEndian(block[32..])),
                    new IPEndPoint(Unmapped(new IPAddress(block[16..32])), BinaryPrimitives.ReadUInt16BigEndian(block[34..])));
            case 0x11:
            case 0x21:
                return ProxyHeader.Invalid(2, "v2 address block shorter than its family needs");
            case 0x12:
            case 0x22:
                return ProxyHeader.Invalid(2, "v2 PROXY over UDP (DGRAM) is not SMTP");
            case 0x31:
            case 0x32:
                return ProxyHeader.Invalid(2, "v2 PROXY from AF_UNIX: no client address to carry");
            case 0x00:
                return ProxyHeader.Invalid(2, "v2 PROXY with AF_UNSPEC: no client address to carry");
            default:
                return ProxyHeader.Invalid(2, "v2 address family or transport unknown");
        }
    }

    /// <summary>Splits on single spaces; more than <paramref name="parts"/> holds, or an empty field, returns -1.</summary>
    private static int SplitBySpace(ReadOnlySpan<byte> text, Span<Range> parts)
    {
        var count = 0;
        var start = 0;
        for (var i = 0; i <= text.Length; i++)
        {
            if (i < text.Length && text[i] != (byte)' ')
            {
                continue;
            }

            if (i == start || count == parts.Length)
            {
                return -1;
            }

            parts[count++] = new Range(start, i);
            start = i + 1;
        }

        return count;
    }

    private static bool TryParseAddress(ReadOnlySpan<byte> text, AddressFamily family, out IPAddress address)
    {
        address = IPAddress.None;
        return family == AddressFamily.InterNetwork ? TryParseDottedQuad(text, out address) : TryParseIPv6(text, out address);
    }

    /// <summary>Four decimal octets without leading zeros, as inet_pton(AF_INET) reads them (not "1", "0x7f.1" or "010.0.0.1").</summary>
    private static bool TryParseDottedQuad(ReadOnlySpan<byte> text, out IPAddress address)
    {
        address = IPAddress.None;
        Span<byte> octets = stackalloc byte[4];
        var index = 0;
        var value = -1;
        var digits = 0;
        foreach (var c in text)
        {
            if (c == (byte)'.')
            {
                if (digits == 0 || index == 3)
                {
                    return false;
                }

                octets[index++] = (byte)value;
                value = -1;
                digits = 0;
                continue;
            }

            if (c is < (byte)'0' or > (byte)'9' || (digits > 0 && value == 0))
            {
                return false;
            }

            value = (Math.Max(value, 0) * 10) + (c - '0');
            digits++;
            if (value > 255)
            {
                return false;
            }
        }

        if (digits == 0 || index != 3)
        {
            return false;
        }

        octets[3] = (byte)value;
        address = new IPAddress(octets);
        return true;
    }

    /// <summary>An IPv6 address in text (hex groups, "::", an IPv4 tail), without a zone ("%eth0") or brackets.</summary>
    private static bool TryParseIPv6(ReadOnlySpan<byte> text, out IPAddress address)
    {
        address = IPAddress.None;
        if (text.Length is 0 or > 45)
        {
            return false;
        }

        foreach (var c in text)
        {
            if (!(char.IsAsciiHexDigit((char)c) || c is (byte)':' or (byte)'.'))
            {
                return false;
            }
        }

        return IPAddress.TryParse(Encoding.ASCII.GetString(text), out address!) && address.AddressFamily == AddressFamily.InterNetworkV6;
    }

    /// <summary>0 to 65535 in decimal, without leading zeros (§2.1's "decimal integer").</summary>
    private static bool TryParsePort(ReadOnlySpan<byte> text, out int port)
    {
        port = 0;
        if (text.Length is 0 or > 5 || (text.Length > 1 && text[0] == (byte)'0'))
        {
            return false;
        }

        foreach (var c in text)
        {
            if (c is < (byte)'0' or > (byte)'9')
            {
                return false;
            }

            port = (port * 10) + (c - '0');
        }

        return port <= IPEndPoint.MaxPort;
    }

    /// <summary>An IPv4-mapped IPv6 address as the IPv4 address it is, as the proxy's listeners report clients.</summary>
    private static IPAddress Unmapped(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
}
