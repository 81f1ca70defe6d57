using System.Buffers;

namespace EarlyPipeProxy.Protocol.ClientIdentity;

/// <summary>
/// RFC 3461 §4 xtext over the UTF-8 bytes of a value: bytes 33..126 except '+' and '=' as they are, everything else
/// (spaces, controls, CR/LF, non-ASCII) as "+XX". A raw CR or LF in an XCLIENT value would let a client inject
/// commands, so nothing is passed through unencoded.
/// </summary>
internal static class Xtext
{
    private static ReadOnlySpan<byte> HexDigits => "0123456789ABCDEF"u8;

    public static void Write(IBufferWriter<byte> writer, string value)
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
