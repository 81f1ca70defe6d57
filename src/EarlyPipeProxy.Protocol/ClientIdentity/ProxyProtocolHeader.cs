using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace EarlyPipeProxy.Protocol.ClientIdentity;

/// <summary>
/// HAProxy PROXY protocol headers (proxy-protocol.txt): sent once, before any SMTP byte, on a new backend connection.
/// IPv4-mapped IPv6 addresses are written as IPv4; if source and destination families still differ, the
/// destination is mapped to the source's family.
/// </summary>
public static class ProxyProtocolHeader
{
    private const int V2PreambleLength = 16;
    private const byte V2VersionProxy = 0x21;
    private const byte V2Tcp4 = 0x11;
    private const byte V2Tcp6 = 0x21;
    private const int V2Tcp4AddressLength = 12;
    private const int V2Tcp6AddressLength = 36;

    private static ReadOnlySpan<byte> V2Signature => "\r\n\r\n\0\r\nQUIT\n"u8;

    /// <summary>Writes "PROXY TCP4|TCP6 src dst sport dport\r\n" (at most 107 octets).</summary>
    public static void WriteV1(IBufferWriter<byte> writer, IPEndPoint source, IPEndPoint destination)
    {
        ArgumentNullException.ThrowIfNull(writer);
        var (src, dst) = NormalizePair(source, destination);

        writer.Write(src.AddressFamily == AddressFamily.InterNetwork ? "PROXY TCP4 "u8 : "PROXY TCP6 "u8);
        IPAddressFormatting.WriteText(writer, src);
        writer.Write(" "u8);
        IPAddressFormatting.WriteText(writer, dst);
        writer.Write(" "u8);
        IPAddressFormatting.WriteDecimal(writer, source.Port);
        writer.Write(" "u8);
        IPAddressFormatting.WriteDecimal(writer, destination.Port);
        writer.Write("\r\n"u8);
    }

    /// <summary>Writes the 16-octet v2 preamble (signature, 0x21 PROXY, 0x11 TCP4 or 0x21 TCP6, length) and the address block.</summary>
    public static void WriteV2(IBufferWriter<byte> writer, IPEndPoint source, IPEndPoint destination)
    {
        ArgumentNullException.ThrowIfNull(writer);
        var (src, dst) = NormalizePair(source, destination);

        bool v4 = src.AddressFamily == AddressFamily.InterNetwork;
        int addressLength = v4 ? V2Tcp4AddressLength : V2Tcp6AddressLength;
        int addressBytes = v4 ? 4 : 16;

        var header = writer.GetSpan(V2PreambleLength + addressLength)[..(V2PreambleLength + addressLength)];
        V2Signature.CopyTo(header);
        header[12] = V2VersionProxy;
        header[13] = v4 ? V2Tcp4 : V2Tcp6;
        BinaryPrimitives.WriteUInt16BigEndian(header[14..], (ushort)addressLength);

        var block = header[V2PreambleLength..];
        WriteAddressBytes(src, block[..addressBytes]);
        WriteAddressBytes(dst, block.Slice(addressBytes, addressBytes));
        BinaryPrimitives.WriteUInt16BigEndian(block[(2 * addressBytes)..], (ushort)source.Port);
        BinaryPrimitives.WriteUInt16BigEndian(block[((2 * addressBytes) + 2)..], (ushort)destination.Port);

        writer.Advance(header.Length);
    }

    private static (IPAddress Source, IPAddress Destination) NormalizePair(IPEndPoint source, IPEndPoint destination)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(destination);

        var src = IPAddressFormatting.Normalize(source.Address);
        var dst = IPAddressFormatting.Normalize(destination.Address);
        if (src.AddressFamily != dst.AddressFamily)
        {
            // The header has one family for both; the source is the one the backend cares about.
            dst = src.AddressFamily == AddressFamily.InterNetwork ? dst.MapToIPv4() : dst.MapToIPv6();
        }

        return (src, dst);
    }

    private static void WriteAddressBytes(IPAddress address, Span<byte> destination)
    {
        if (!address.TryWriteBytes(destination, out int written) || written != destination.Length)
        {
            throw new ArgumentException("Unexpected address length.", nameof(address));
        }
    }
}
