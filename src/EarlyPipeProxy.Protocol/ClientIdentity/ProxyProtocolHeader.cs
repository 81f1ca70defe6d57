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

    // proxy-protocol.txt §2.2: each TLV is type (1 octet), length (2 octets, big-endian), value.
    private const int TlvHeaderLength = 3;

    // §2.2.5: PP2_TYPE_SSL's value starts with uint8 client and uint32 verify, then the sub-TLVs.
    private const byte Pp2TypeSsl = 0x20;
    private const byte Pp2ClientSsl = 0x01;
    private const byte Pp2SubtypeSslVersion = 0x21;
    private const byte Pp2SubtypeSslCipher = 0x23;
    private const int SslTlvFixedLength = 5;

    // "zero if the client presented a certificate and it was successfully verified, and non-zero otherwise": the
    // proxy never asks for client certificates, so never 0. 1 is also OpenSSL's X509_V_ERR_UNSPECIFIED.
    private const uint VerifyNoClientCertificate = 1;

    // Keeps the header small (well under the 64 KiB the length field allows) whatever a TLS stack reports.
    private const int MaxTlsValueLength = 255;

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
    public static void WriteV2(IBufferWriter<byte> writer, IPEndPoint source, IPEndPoint destination) =>
        WriteV2(writer, source, destination, null);

    /// <summary>
    /// Writes the 16-octet v2 preamble (signature, 0x21 PROXY, 0x11 TCP4 or 0x21 TCP6, length) and the address block,
    /// followed, when <paramref name="tls"/> is not null, by one PP2_TYPE_SSL TLV (§2.2.5): client = PP2_CLIENT_SSL,
    /// verify = 1 (non-zero: no client certificate was presented, so none was verified), then the
    /// PP2_SUBTYPE_SSL_VERSION and PP2_SUBTYPE_SSL_CIPHER sub-TLVs. The preamble's length counts the TLV too.
    /// Without <paramref name="tls"/> the output is identical to the three-argument overload.
    /// </summary>
    /// <exception cref="ArgumentException">
    /// A <paramref name="tls"/> value is null, empty, longer than 255 characters or not printable US-ASCII (0x20..0x7E);
    /// nothing is written then.
    /// </exception>
    public static void WriteV2(IBufferWriter<byte> writer, IPEndPoint source, IPEndPoint destination, ProxyTlsInfo? tls)
    {
        ArgumentNullException.ThrowIfNull(writer);
        var (src, dst) = NormalizePair(source, destination);

        var sslTlvLength = 0;
        if (tls is { } info)
        {
            ValidateTlsValue(info.Version, nameof(tls));
            ValidateTlsValue(info.Cipher, nameof(tls));
            sslTlvLength = TlvHeaderLength + SslTlvFixedLength
                + TlvHeaderLength + info.Version.Length
                + TlvHeaderLength + info.Cipher.Length;
        }

        var v4 = src.AddressFamily == AddressFamily.InterNetwork;
        var addressLength = v4 ? V2Tcp4AddressLength : V2Tcp6AddressLength;
        var addressBytes = v4 ? 4 : 16;

        // At most 36 + 3 + 5 + 2 * (3 + 255) = 560 octets after the preamble: far below the 16-bit length limit.
        var payloadLength = addressLength + sslTlvLength;
        var totalLength = V2PreambleLength + payloadLength;

        var header = writer.GetSpan(totalLength)[..totalLength];
        V2Signature.CopyTo(header);
        header[12] = V2VersionProxy;
        header[13] = v4 ? V2Tcp4 : V2Tcp6;
        BinaryPrimitives.WriteUInt16BigEndian(header[14..], (ushort)payloadLength);

        var block = header.Slice(V2PreambleLength, addressLength);
        WriteAddressBytes(src, block[..addressBytes]);
        WriteAddressBytes(dst, block.Slice(addressBytes, addressBytes));
        BinaryPrimitives.WriteUInt16BigEndian(block[(2 * addressBytes)..], (ushort)source.Port);
        BinaryPrimitives.WriteUInt16BigEndian(block[((2 * addressBytes) + 2)..], (ushort)destination.Port);

        if (tls is { } tlsInfo)
        {
            var ssl = header[(V2PreambleLength + addressLength)..];
            ssl[0] = Pp2TypeSsl;
            BinaryPrimitives.WriteUInt16BigEndian(ssl[1..], (ushort)(sslTlvLength - TlvHeaderLength));
            ssl[3] = Pp2ClientSsl;
            BinaryPrimitives.WriteUInt32BigEndian(ssl[4..], VerifyNoClientCertificate);
            var offset = TlvHeaderLength + SslTlvFixedLength;
            offset += WriteAsciiTlv(ssl[offset..], Pp2SubtypeSslVersion, tlsInfo.Version);
            WriteAsciiTlv(ssl[offset..], Pp2SubtypeSslCipher, tlsInfo.Cipher);
        }

        writer.Advance(totalLength);
    }

    private static void ValidateTlsValue(string? value, string paramName)
    {
        if (string.IsNullOrEmpty(value) || value.Length > MaxTlsValueLength)
        {
            throw new ArgumentException($"TLS version and cipher must be 1 to {MaxTlsValueLength} characters.", paramName);
        }

        foreach (var c in value)
        {
            if (c is < (char)0x20 or > (char)0x7E)
            {
                throw new ArgumentException("TLS version and cipher must be printable US-ASCII.", paramName);
            }
        }
    }

    /// <summary>Writes type, big-endian length and the (already validated, ASCII) value; returns the octets written.</summary>
    private static int WriteAsciiTlv(Span<byte> destination, byte type, string value)
    {
        destination[0] = type;
        BinaryPrimitives.WriteUInt16BigEndian(destination[1..], (ushort)value.Length);
        for (var i = 0; i < value.Length; i++)
        {
            destination[TlvHeaderLength + i] = (byte)value[i];
        }

        return TlvHeaderLength + value.Length;
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
        if (!address.TryWriteBytes(destination, out var written) || written != destination.Length)
        {
            throw new ArgumentException("Unexpected address length.", nameof(address));
        }
    }
}
