using System.Buffers;
using System.Buffers.Text;
using System.Text;

namespace EarlyPipeProxy.Protocol.Commands;

/// <summary>Classifies a command line (without its CRLF). Pure; never allocates.</summary>
public static class SmtpCommandParser
{
    private static ReadOnlySpan<byte> LastKeyword => " LAST"u8;

    /// <summary>
    /// <see cref="Parse(ReadOnlySpan{byte})"/> for a line as it lies in a pipe's buffer, possibly in several segments.
    /// Only the verb and a BDAT size matter for classification, and 64 octets hold both.
    /// </summary>
    public static SmtpCommand Parse(in ReadOnlySequence<byte> line)
    {
        if (line.IsSingleSegment)
        {
            return Parse(line.FirstSpan);
        }

        Span<byte> head = stackalloc byte[64];
        var length = (int)Math.Min(line.Length, head.Length);
        line.Slice(0, length).CopyTo(head);
        return Parse(head[..length]);
    }

    /// <summary>
    /// Whether buffered input starts with "AUTH ": such a line may carry an initial SASL response up to 12288 octets
    /// (RFC 4954 §4), so it is read with a larger limit than other commands.
    /// </summary>
    public static bool StartsWithAuth(in ReadOnlySequence<byte> buffer)
    {
        Span<byte> head = stackalloc byte[5];
        if (buffer.Length < head.Length)
        {
            return false;
        }

        buffer.Slice(0, head.Length).CopyTo(head);
        return Ascii.EqualsIgnoreCase(head, "AUTH "u8);
    }

    /// <summary>The command's argument text (after the verb and its spaces) as Latin-1, e.g. the EHLO name.</summary>
    public static string GetArgument(in ReadOnlySequence<byte> line, SmtpCommand command)
        => Encoding.Latin1.GetString(line.Slice(Math.Min(command.ArgumentStart, line.Length)));

    /// <summary>
    /// Parses the verb: the bytes up to the first space (or end of line), compared ASCII case-insensitively.
    /// "MAIL FROM:&lt;a@b&gt;" → Mail; "RCPT TO:..." → Rcpt; "BDAT 1234 LAST" → Bdat(1234, true);
    /// "STARTTLS" → StartTls; "DATAX" → Unknown. A verb must be followed by a space or end of line to match.
    /// </summary>
    public static SmtpCommand Parse(ReadOnlySpan<byte> line)
    {
        var verbLength = line.IndexOf((byte)' ');
        if (verbLength < 0)
        {
            verbLength = line.Length;
        }

        var verb = Classify(line[..verbLength]);

        var argumentStart = verbLength;
        while (argumentStart < line.Length && line[argumentStart] == (byte)' ')
        {
            argumentStart++;
        }

        if (verb != SmtpVerb.Bdat)
        {
            return new SmtpCommand(verb, argumentStart, -1, false);
        }

        var ok = TryParseBdatArguments(line[argumentStart..], out var size, out var last);
        return new SmtpCommand(verb, argumentStart, ok ? size : -1, ok && last);
    }

    /// <summary>
    /// "size" or "size LAST", nothing else. The size decides where the next command starts, so anything the backend
    /// might read differently from us (signs, spaces, trailing words) is refused rather than guessed at.
    /// </summary>
    private static bool TryParseBdatArguments(ReadOnlySpan<byte> arguments, out long size, out bool last)
    {
        size = -1;
        last = false;

        var digits = arguments.IndexOfAnyExceptInRange((byte)'0', (byte)'9');
        if (digits < 0)
        {
            digits = arguments.Length;
        }

        if (digits == 0)
        {
            return false;
        }

        var rest = arguments[digits..];
        if (rest.Length != 0)
        {
            if (!Ascii.EqualsIgnoreCase(rest, LastKeyword))
            {
                return false;
            }

            last = true;
        }

        // Only digits remain, so Utf8Parser can fail only on overflow.
        if (!Utf8Parser.TryParse(arguments[..digits], out size, out var consumed) || consumed != digits)
        {
            size = -1;
            last = false;
            return false;
        }

        return true;
    }

    private static SmtpVerb Classify(ReadOnlySpan<byte> word) => word.Length switch
    {
        4 => ClassifyFour(word),
        8 when Ascii.EqualsIgnoreCase(word, "STARTTLS"u8) => SmtpVerb.StartTls,
        8 when Ascii.EqualsIgnoreCase(word, "XFORWARD"u8) => SmtpVerb.Xforward,
        7 when Ascii.EqualsIgnoreCase(word, "XCLIENT"u8) => SmtpVerb.Xclient,
        _ => SmtpVerb.Unknown,
    };

    private static SmtpVerb ClassifyFour(ReadOnlySpan<byte> word)
    {
        // Most lines are MAIL and RCPT, so they are tried first.
        if (Ascii.EqualsIgnoreCase(word, "MAIL"u8)) { return SmtpVerb.Mail; }
        if (Ascii.EqualsIgnoreCase(word, "RCPT"u8)) { return SmtpVerb.Rcpt; }
        if (Ascii.EqualsIgnoreCase(word, "DATA"u8)) { return SmtpVerb.Data; }
        if (Ascii.EqualsIgnoreCase(word, "BDAT"u8)) { return SmtpVerb.Bdat; }
        if (Ascii.EqualsIgnoreCase(word, "EHLO"u8)) { return SmtpVerb.Ehlo; }
        if (Ascii.EqualsIgnoreCase(word, "HELO"u8)) { return SmtpVerb.Helo; }
        if (Ascii.EqualsIgnoreCase(word, "RSET"u8)) { return SmtpVerb.Rset; }
        if (Ascii.EqualsIgnoreCase(word, "NOOP"u8)) { return SmtpVerb.Noop; }
        if (Ascii.EqualsIgnoreCase(word, "QUIT"u8)) { return SmtpVerb.Quit; }
        if (Ascii.EqualsIgnoreCase(word, "VRFY"u8)) { return SmtpVerb.Vrfy; }
        if (Ascii.EqualsIgnoreCase(word, "EXPN"u8)) { return SmtpVerb.Expn; }
        if (Ascii.EqualsIgnoreCase(word, "HELP"u8)) { return SmtpVerb.Help; }
        if (Ascii.EqualsIgnoreCase(word, "AUTH"u8)) { return SmtpVerb.Auth; }
        if (Ascii.EqualsIgnoreCase(word, "ETRN"u8)) { return SmtpVerb.Etrn; }
        if (Ascii.EqualsIgnoreCase(word, "TURN"u8)) { return SmtpVerb.Turn; }
        return SmtpVerb.Unknown;
    }
}
