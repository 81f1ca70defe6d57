using System.Buffers;
using System.Net;
using System.Net.Sockets;

namespace EarlyPipeProxy.Protocol.ClientIdentity;

/// <summary>
/// Postfix XCLIENT (XCLIENT_README): tells the backend who the real client is. Values are xtext-encoded (RFC 3461 §4);
/// IPv6 addresses are written "IPV6:addr"; IPv4-mapped IPv6 addresses are written as IPv4.
/// </summary>
public static class XclientCommand
{
    private static ReadOnlySpan<byte> HexDigits => "0123456789ABCDEF"u8;

    /// <summary>Writes "XCLIENT ADDR=… PORT=…[ NAME=…][ HELO=…]\r\n". <paramref name="name"/> and <paramref name="helo"/> are omitted when null.</summary>
    public static void Write(IBufferWriter<byte> writer, IPEndPoint client, string? name, string? helo)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(client);

        var address = IPAddressFormatting.Normalize(client.Address);

        // Address text and port digits need no xtext encoding: none of their characters is outside 33..126, '+' or '='.
        writer.Write("XCLIENT ADDR="u8);
        if (address.AddressFamily == AddressFamily.InterNetworkV6)
        {
            writer.Write("IPV6:"u8);
        }

        IPAddressFormatting.WriteText(writer, address);
        writer.Write(" PORT="u8);
        IPAddressFormatting.WriteDecimal(writer, client.Port);

        if (name is not null)
        {
            writer.Write(" NAME="u8);
            WriteXtext(writer, name);
        }

        if (helo is not null)
        {
            writer.Write(" HELO="u8);
            WriteXtext(writer, helo);
        }

        writer.Write("\r\n"u8);
    }

    /// <summary>
    /// RFC 3461 §4 xtext over the UTF-8 bytes of <paramref name="value"/>: bytes 33..126 except '+' and '=' as they
    /// are, everything else (spaces, controls, CR/LF, non-ASCII) as "+XX". A raw CR or LF here would let a client
    /// inject commands, so nothing is passed through unencoded.
    /// </summary>
    private static void WriteXtext(IBufferWriter<byte> writer, string value)
    {
        Span<byte> utf8 = stackalloc byte[4];
        foreach (var rune in value.EnumerateRunes())
        {
            var length = rune.EncodeToUtf8(utf8);
            var output = writer.GetSpan(length * 3);
            var written = 0;
            foreach (var b in utf8[..length])
            {
                if (b is >= 33 and <= 126 and not (byte)'+' and not (byte)'=')
                {
                    output[written++] = b;
                }
                else
                {
                    output[written++] = (byte)'+';
                    output[written++] = HexDigits[b >> 4];
                    output[written++] = HexDigits[b & 0xF];
                }
            }

            writer.Advance(written);
        }
    }
}
