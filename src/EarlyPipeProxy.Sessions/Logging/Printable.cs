using System.Buffers;
using System.Globalization;
using System.Text;

namespace EarlyPipeProxy.Sessions.Logging;

/// <summary>Peer input quoted in a log line, as Exim quotes it: non-printables escaped, bounded.</summary>
public static class Printable
{
    /// <summary>Up to <paramref name="limit"/> octets of <paramref name="buffer"/>.</summary>
    public static string Of(in ReadOnlySequence<byte> buffer, int limit)
    {
        var builder = new StringBuilder();
        foreach (var b in buffer.Slice(0, Math.Min(limit, buffer.Length)).ToArray())
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
