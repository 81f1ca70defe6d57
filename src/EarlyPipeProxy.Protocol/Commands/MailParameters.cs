using System.Text;

namespace EarlyPipeProxy.Protocol.Commands;

/// <summary>What the proxy needs from MAIL's ESMTP parameters (RFC 5321 §4.1.2: SP-separated after the reverse path).</summary>
public static class MailParameters
{
    /// <summary>
    /// MAIL declares BODY=BINARYMIME (RFC 3030 §3), matched ASCII case-insensitively as a whole word after the
    /// reverse path (a line with or without its CRLF). Such a message may hold any octets, so it can only travel by BDAT.
    /// </summary>
    public static bool DeclaresBinaryMime(ReadOnlySpan<byte> line)
    {
        var pathEnd = line.IndexOf((byte)'>');
        var parameters = (pathEnd < 0 ? line : line[(pathEnd + 1)..]).TrimEnd("\r\n"u8);
        foreach (var range in parameters.SplitAny(" \t"u8))
        {
            if (Ascii.EqualsIgnoreCase(parameters[range], "BODY=BINARYMIME"u8))
            {
                return true;
            }
        }

        return false;
    }
}
