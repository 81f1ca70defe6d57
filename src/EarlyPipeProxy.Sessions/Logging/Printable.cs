using System.Buffers;
using System.Globalization;
using System.Text;

namespace EarlyPipeProxy.Sessions.Logging;

/// <summary>Peer input quoted in a log line, as Exim quotes it: non-printables escaped, bounded.</summary>
public static class Printable
{
    /// <summary>Up to <paramref name="limit"/> octets of <paramref name="buffer"/>.</summary>
    public static string Of(in ReadOnlySequence<byte> buffer, int limit) => Of(buffer.Slice(0, Math.Min(limit, buffer.Length)).ToArray());

    /// <summary>Text from a peer kept as Latin-1 (one char per octet), e.g. a cached EHLO reply line.</summary>
    public static string Of(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return text.All(c => c is >= ' ' and < (char)0x7f && c is not ('"' or '\\')) ? text : Of(Encoding.Latin1.GetBytes(text));
    }

    private static string Of(byte[] octets)
    {
        var builder = new StringBuilder();
        foreach (var b in octets)
        {
            _ = b switch
            {
                (byte)'\r' => builder.Append("\\r"),
                (byte)'\n' => builder.Append("\\n"),
                (byte)'"' or (byte)'\\' => builder.Append('\\').Append((char)b),
                >= 0x20 and < 0x7f => builder.Append((char)b),
                _ => builder.Append("\\x").Append(b.ToString("x2", CultureInfo.InvariantCulture)),
            };
        }

        return builder.ToString();
    }
}
