using System.Buffers;
using System.Buffers.Text;
using System.Text;

namespace EarlyPipeProxy.Protocol.Commands;

/// <summary>
/// Classifies a command line (without its CRLF) the way Postfix's smtpd reads it, since the proxy's decisions
/// (refuse XCLIENT, frame DATA and BDAT, intercept STARTTLS, relay AUTH) hold only if the backend sees the same
/// command. Pure.
/// </summary>
public static class SmtpCommandParser
{
    /// <summary>
    /// The separators of Postfix's command tokenizer (smtpd/smtpd_token.c, smtp_next_token): ISSPACE, which
    /// util/sys_defs.h defines as ASCII isspace() in the C locale: SP, HT, LF, VT, FF, CR. Leading ones are skipped
    /// and any run of them ends a word, so " XCLIENT" and "XCLIENT\tADDR=..." are XCLIENT to the backend.
    /// </summary>
    private static readonly SearchValues<byte> Whitespace = SearchValues.Create(" \t\n\v\f\r"u8);

    /// <summary>
    /// Control bytes a command line may not carry: 0x00-0x1F except HT, and DEL. Postfix reads the line as a C
    /// string, so everything after a NUL is invisible to it ("NOOP\0..." is NOOP there, whatever follows), and the
    /// other controls are either whitespace to its tokenizer or nothing any SMTP command needs.
    /// </summary>
    private static readonly SearchValues<byte> ControlBytes = SearchValues.Create(
        "\0\u0001\u0002\u0003\u0004\u0005\u0006\u0007\u0008\n\u000b\u000c\r\u000e\u000f\u0010\u0011\u0012\u0013\u0014\u0015\u0016\u0017\u0018\u0019\u001a\u001b\u001c\u001d\u001e\u001f\u007f"u8);

    // A multi-segment line up to this size is copied to the stack to be parsed; a longer one (an AUTH line with its
    // initial response) to a pooled array.
    private const int StackCopyLimit = 512;

    private static ReadOnlySpan<byte> AuthVerb => "AUTH"u8;

    private static ReadOnlySpan<byte> LastKeyword => "LAST"u8;

    /// <summary>
    /// <see cref="Parse(ReadOnlySpan{byte})"/> for a line as it lies in a pipe's buffer, possibly in several segments.
    /// The whole line is looked at: leading whitespace may push the verb anywhere, and a control byte may be anywhere.
    /// </summary>
    public static SmtpCommand Parse(in ReadOnlySequence<byte> line)
    {
        if (line.IsSingleSegment)
        {
            return Parse(line.FirstSpan);
        }

        var length = checked((int)line.Length);
        if (length <= StackCopyLimit)
        {
            Span<byte> copy = stackalloc byte[length];
            line.CopyTo(copy);
            return Parse(copy);
        }

        var rented = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            var copy = rented.AsSpan(0, length);
            line.CopyTo(copy);
            return Parse(copy);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>
    /// Whether buffered input starts with the verb AUTH, read as <see cref="Parse(ReadOnlySpan{byte})"/> reads verbs:
    /// such a line may carry an initial SASL response up to 12288 octets (RFC 4954 §4), so it is read with a larger
    /// limit than other commands. The caller bounds <paramref name="buffer"/>: whitespace beyond it is not looked past.
    /// </summary>
    public static bool StartsWithAuth(in ReadOnlySequence<byte> buffer)
    {
        var reader = new SequenceReader<byte>(buffer);
        reader.AdvancePastAny(" \t\n\v\f\r"u8);
        Span<byte> head = stackalloc byte[AuthVerb.Length + 1];
        if (!reader.TryCopyTo(head))
        {
            return false;
        }

        return Ascii.EqualsIgnoreCase(head[..AuthVerb.Length], AuthVerb) && Whitespace.Contains(head[AuthVerb.Length]);
    }

    /// <summary>Whether a line holds a byte of <see cref="ControlBytes"/> (for lines not parsed as commands: SASL answers).</summary>
    public static bool ContainsControlByte(in ReadOnlySequence<byte> line)
    {
        foreach (var segment in line)
        {
            if (segment.Span.ContainsAny(ControlBytes))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The command's argument text (after the verb and its whitespace) as Latin-1, e.g. the EHLO name.</summary>
    public static string GetArgument(in ReadOnlySequence<byte> line, SmtpCommand command)
        => Encoding.Latin1.GetString(line.Slice(Math.Min(command.ArgumentStart, line.Length)));

    /// <summary>
    /// Parses the verb as Postfix's tokenizer finds it: leading whitespace skipped, the word up to the next whitespace
    /// (or end of line), compared ASCII case-insensitively. "MAIL FROM:&lt;a@b&gt;" → Mail; " XCLIENT ADDR=x" and
    /// "XCLIENT\tADDR=x" → Xclient; "BDAT 1234 LAST" → Bdat(1234, true); "DATAX" → Unknown. Postfix's quoting
    /// (&lt;&gt;, "", backslash) and its "from:"/"to:" split only ever glue characters onto a word, and no verb holds
    /// them, so a word the proxy classifies as a verb is the same word there.
    /// </summary>
    public static SmtpCommand Parse(ReadOnlySpan<byte> line)
    {
        var hasControlByte = line.ContainsAny(ControlBytes);

        var verbStart = SkipWhitespace(line, 0);
        var verbLength = line[verbStart..].IndexOfAny(Whitespace);
        if (verbLength < 0)
        {
            verbLength = line.Length - verbStart;
        }

        var verb = Classify(line.Slice(verbStart, verbLength));
        var argumentStart = SkipWhitespace(line, verbStart + verbLength);

        if (verb != SmtpVerb.Bdat)
        {
            return new SmtpCommand(verb, argumentStart, -1, false) { HasControlByte = hasControlByte };
        }

        var ok = TryParseBdatArguments(line[argumentStart..], out var size, out var last);
        return new SmtpCommand(verb, argumentStart, ok ? size : -1, ok && last) { HasControlByte = hasControlByte };
    }

    private static int SkipWhitespace(ReadOnlySpan<byte> line, int from)
    {
        var skipped = line[from..].IndexOfAnyExcept(Whitespace);
        return skipped < 0 ? line.Length : from + skipped;
    }

    /// <summary>
    /// Postfix's bdat_cmd (smtpd/smtpd.c): two or three words, the second all digits, the third "LAST" in any case;
    /// the words split as every command's are. The size decides where the next command starts, so anything else
    /// (signs, other words, a quoted size) is refused rather than guessed at.
    /// </summary>
    private static bool TryParseBdatArguments(ReadOnlySpan<byte> arguments, out long size, out bool last)
    {
        size = -1;
        last = false;

        var digits = arguments.IndexOfAny(Whitespace);
        if (digits < 0)
        {
            digits = arguments.Length;
        }

        var sizeWord = arguments[..digits];
        if (sizeWord.IsEmpty || sizeWord.ContainsAnyExceptInRange((byte)'0', (byte)'9'))
        {
            return false;
        }

        var next = SkipWhitespace(arguments, digits);
        var rest = arguments[next..];
        if (!rest.IsEmpty)
        {
            var lastLength = rest.IndexOfAny(Whitespace);
            if (lastLength < 0)
            {
                lastLength = rest.Length;
            }

            if (!Ascii.EqualsIgnoreCase(rest[..lastLength], LastKeyword) || SkipWhitespace(rest, lastLength) != rest.Length)
            {
                return false;
            }

            last = true;
        }

        // Only digits remain, so Utf8Parser can fail only on overflow.
        if (!Utf8Parser.TryParse(sizeWord, out size, out var consumed) || consumed != sizeWord.Length)
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
