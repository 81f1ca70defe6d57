using System.Buffers;
using System.Globalization;
using System.Text;
using EarlyPipeProxy.Sessions.Logging;

namespace EarlyPipeProxy.Sessions.Tracing;

/// <summary>
/// A traced line as the log shows it: without its CRLF, non-printable octets escaped (<see cref="Printable"/>), cut at
/// <see cref="MaxLineOctets"/>, and credentials masked: the initial response of "AUTH mechanism response" (RFC 4954
/// §4) and every SASL answer line (<see cref="Mask"/>).
/// </summary>
public static class TraceText
{
    /// <summary>Octets of one line shown; the rest is counted.</summary>
    public const int MaxLineOctets = 256;

    public const string Masked = "****";

    /// <summary>A command or reply line; with <paramref name="maskAuth"/>, an AUTH command's initial response is masked.</summary>
    /// <param name="overflow">Octets of the line already cut off before it got here.</param>
    public static string Line(ReadOnlySpan<byte> line, long overflow = 0, bool maskAuth = true)
    {
        line = WithoutLineEnd(line);
        if (maskAuth && TryAuthPrefix(line, out var prefix))
        {
            return Show(line[..prefix], 0) + Masked;
        }

        return Show(line, overflow);
    }

    /// <summary>A SASL answer (a line the peer or the proxy sends after a 334): shown masked, only a cancel ("*") as it is.</summary>
    public static string Mask(ReadOnlySpan<byte> line) => WithoutLineEnd(line).SequenceEqual("*"u8) ? "*" : Masked;

    /// <summary>"AUTH PLAIN " of "AUTH PLAIN dGVzdA==": the part up to the initial response, when there is one.</summary>
    private static bool TryAuthPrefix(ReadOnlySpan<byte> line, out int prefix)
    {
        prefix = 0;
        if (line.Length < 5 || !Ascii.EqualsIgnoreCase(line[..5], "AUTH "u8))
        {
            return false;
        }

        var mechanismEnd = line[5..].IndexOf((byte)' ');
        if (mechanismEnd < 0)
        {
            return false;
        }

        prefix = 5 + mechanismEnd + 1;
        return true;
    }

    private static ReadOnlySpan<byte> WithoutLineEnd(ReadOnlySpan<byte> line)
    {
        if (line.EndsWith("\n"u8))
        {
            line = line[..^1];
        }

        return line.EndsWith("\r"u8) ? line[..^1] : line;
    }

    private static string Show(ReadOnlySpan<byte> line, long overflow)
    {
        var shown = line.Length > MaxLineOctets ? line[..MaxLineOctets] : line;
        overflow += line.Length - shown.Length;
        var text = Printable.Of(new ReadOnlySequence<byte>(shown.ToArray()), MaxLineOctets);
        return overflow > 0 ? text + "... (+" + overflow.ToString(CultureInfo.InvariantCulture) + " octets)" : text;
    }
}
