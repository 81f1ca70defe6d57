using System.Buffers;
using System.Buffers.Text;
using System.Text;

namespace EarlyPipeProxy.Protocol.Commands;

/// <summary>
/// Writes the commands the proxy itself originates (as opposed to the ones it relays byte for byte), each a whole
/// line ending in CRLF (RFC 5321 §2.3.8). Verbs are upper case, as RFC 5321 §4.1.1 shows them.
/// </summary>
public static class SmtpCommandWriter
{
    /// <summary>"EHLO domain\r\n" (RFC 5321 §4.1.1.1).</summary>
    public static void WriteEhlo(IBufferWriter<byte> writer, string domain) => WriteWithDomain(writer, "EHLO "u8, domain);

    /// <summary>"HELO domain\r\n" (RFC 5321 §4.1.1.1), for a server that refuses EHLO.</summary>
    public static void WriteHelo(IBufferWriter<byte> writer, string domain) => WriteWithDomain(writer, "HELO "u8, domain);

    /// <summary>"QUIT\r\n" (RFC 5321 §4.1.1.10).</summary>
    public static void WriteQuit(IBufferWriter<byte> writer) => WriteLiteral(writer, "QUIT\r\n"u8);

    /// <summary>"DATA\r\n" (RFC 5321 §4.1.1.4).</summary>
    public static void WriteData(IBufferWriter<byte> writer) => WriteLiteral(writer, "DATA\r\n"u8);

    /// <summary>"STARTTLS\r\n" (RFC 3207 §4).</summary>
    public static void WriteStartTls(IBufferWriter<byte> writer) => WriteLiteral(writer, "STARTTLS\r\n"u8);

    /// <summary>"RSET\r\n" (RFC 5321 §4.1.1.5).</summary>
    public static void WriteRset(IBufferWriter<byte> writer) => WriteLiteral(writer, "RSET\r\n"u8);

    /// <summary>
    /// A SASL exchange is cancelled by answering a 334 challenge with a line holding only "*" (RFC 4954 §4); the server
    /// then replies 501.
    /// </summary>
    public static void WriteAuthCancel(IBufferWriter<byte> writer) => WriteLiteral(writer, "*\r\n"u8);

    /// <summary>
    /// "BDAT size\r\n" or "BDAT size LAST\r\n" (RFC 3030 §2: bdat-cmd = "BDAT" SP chunk-size [ SP end-marker ] CRLF,
    /// chunk-size = 1*DIGIT). The chunk itself is the caller's to write, exactly <paramref name="size"/> octets.
    /// </summary>
    public static void WriteBdat(IBufferWriter<byte> writer, long size, bool last)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentOutOfRangeException.ThrowIfNegative(size);

        // "BDAT " + 19 digits (long.MaxValue) + " LAST\r\n".
        const int MaxLength = 5 + 19 + 7;
        var span = writer.GetSpan(MaxLength);
        "BDAT "u8.CopyTo(span);
        var length = 5;
        Utf8Formatter.TryFormat(size, span[length..], out var digits);
        length += digits;
        var tail = last ? " LAST\r\n"u8 : "\r\n"u8;
        tail.CopyTo(span[length..]);
        length += tail.Length;
        writer.Advance(length);
    }

    private static void WriteLiteral(IBufferWriter<byte> writer, ReadOnlySpan<byte> line)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.Write(line);
    }

    private static void WriteWithDomain(IBufferWriter<byte> writer, ReadOnlySpan<byte> verb, string domain)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ValidateDomain(domain);

        writer.Write(verb);
        Encoding.ASCII.GetBytes(domain, writer);
        writer.Write("\r\n"u8);
    }

    /// <summary>
    /// Whether <paramref name="domain"/> can be the argument of EHLO/HELO: a domain or an address literal (RFC 5321
    /// §4.1.1.1), printable ASCII without spaces. Anything else is refused rather than written: a CR or LF would end
    /// the line early and let the rest be read as a second command, a space would add an argument, and a non-ASCII
    /// char cannot be written as one byte.
    /// </summary>
    public static bool IsValidDomain(string? domain)
    {
        if (string.IsNullOrEmpty(domain))
        {
            return false;
        }

        foreach (var c in domain)
        {
            if (c is <= ' ' or >= (char)0x7F)
            {
                return false;
            }
        }

        return true;
    }

    private static void ValidateDomain(string domain)
    {
        ArgumentException.ThrowIfNullOrEmpty(domain);
        if (!IsValidDomain(domain))
        {
            throw new ArgumentException("an EHLO/HELO domain is printable ASCII without spaces", nameof(domain));
        }
    }
}
