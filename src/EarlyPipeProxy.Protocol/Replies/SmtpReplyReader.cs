using System.Buffers;
using EarlyPipeProxy.Protocol.Lines;

namespace EarlyPipeProxy.Protocol.Replies;

/// <summary>Frames multi-line SMTP replies (RFC 5321 §4.2.1) without allocating.</summary>
public static class SmtpReplyReader
{
    /// <summary>
    /// Lines of one reply at the most, unless the caller says otherwise. RFC 5321 sets no bound; the longest replies
    /// seen in practice are EHLO replies of a few dozen lines. Without one, a server that never ends its reply would
    /// make the reader buffer without end.
    /// </summary>
    public const int DefaultMaxLines = 100;

    /// <summary>
    /// Reads one whole reply: lines "ddd-text" continue it, "ddd text" or "ddd" ends it; every line must end in CRLF
    /// and carry the same code. On Complete the reader is past the final CRLF and <paramref name="reply"/>.Raw covers all lines.
    /// On Incomplete, Malformed or TooLong the reader is not advanced. <paramref name="maxLineLength"/> excludes the CRLF.
    /// A multi-line banner ("220-" teaser, then a pause, then "220 ") stays Incomplete until its final line arrives.
    /// More than <paramref name="maxLines"/> lines is TooLong, so a reply costs at most maxLines × maxLineLength octets.
    /// </summary>
    public static ReplyReadStatus TryReadReply(ref SequenceReader<byte> reader, int maxLineLength, out SmtpReply reply, int maxLines = DefaultMaxLines)
    {
        reply = default;

        // Work on a copy so that every outcome but Complete leaves the caller's reader where it was.
        var lines = reader;
        var code = -1;
        var lineCount = 0;
        while (true)
        {
            switch (SmtpLineReader.TryReadLine(ref lines, maxLineLength, out var line))
            {
                case LineReadStatus.Incomplete:
                    return ReplyReadStatus.Incomplete;
                case LineReadStatus.TooLong:
                    return ReplyReadStatus.TooLong;
                case LineReadStatus.BareLineEnding:
                    return ReplyReadStatus.Malformed;
            }

            if (!TryParseLine(line, out var lineCode, out var isFinal) || (code >= 0 && lineCode != code))
            {
                return ReplyReadStatus.Malformed;
            }

            code = lineCode;
            lineCount++;
            if (!isFinal && lineCount >= maxLines)
            {
                return ReplyReadStatus.TooLong;
            }

            if (isFinal)
            {
                break;
            }
        }

        var raw = reader.Sequence.Slice(reader.Position, lines.Position);
        reply = new SmtpReply(code, raw, lineCount);
        reader.Advance(raw.Length);
        return ReplyReadStatus.Complete;
    }

    /// <summary>"ddd", "ddd text" (final) or "ddd-text" (continued).</summary>
    private static bool TryParseLine(in ReadOnlySequence<byte> line, out int code, out bool isFinal)
    {
        code = 0;
        isFinal = false;

        Span<byte> head = stackalloc byte[4];
        var length = (int)Math.Min(line.Length, head.Length);
        if (length < 3)
        {
            return false;
        }

        line.Slice(0, length).CopyTo(head);
        for (var i = 0; i < 3; i++)
        {
            if (!char.IsAsciiDigit((char)head[i]))
            {
                return false;
            }

            code = (code * 10) + (head[i] - '0');
        }

        if (length == 3)
        {
            isFinal = true;
            return true;
        }

        switch (head[3])
        {
            case (byte)' ':
                isFinal = true;
                return true;
            case (byte)'-':
                return true;
            default:
                return false;
        }
    }
}
