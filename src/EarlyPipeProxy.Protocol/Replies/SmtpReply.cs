using System.Buffers;
using System.Text;

namespace EarlyPipeProxy.Protocol.Replies;

/// <summary>
/// One SMTP reply as it arrived: the three-digit code and the raw bytes of all its lines including every CRLF,
/// so that it can be relayed verbatim. <see cref="Raw"/> points into the reader's buffer and is valid until it advances.
/// </summary>
public readonly record struct SmtpReply(int Code, ReadOnlySequence<byte> Raw, int LineCount)
{
    // "ddd" plus the separator; the text of a line starts after it.
    private const int TextOffset = 4;

    // "c.sss.ddd" and the space after it: enough of the text to recognise any enhanced status code.
    private const int EnhancedCodePeek = 10;

    public bool IsPositiveCompletion => Code is >= 200 and < 300;
    public bool IsPositiveIntermediate => Code is >= 300 and < 400;
    public bool IsTransientFailure => Code is >= 400 and < 500;
    public bool IsPermanentFailure => Code >= 500;

    /// <summary>The text of the final line without code, separator and CRLF (allocates: for logs and errors only).</summary>
    public string FinalLineText()
    {
        var text = FinalLineTextBytes(Raw);
        return text.IsEmpty ? string.Empty : Encoding.UTF8.GetString(text);
    }

    /// <summary>
    /// The queue id a positive reply to the end of data names (<see cref="QueueIdParser"/>); false for any other code
    /// or wording.
    /// </summary>
    public bool TryGetQueueId(out string queueId) => TryGetQueueId(Code, Raw, out queueId);

    /// <summary>As <see cref="TryGetQueueId(out string)"/>, for a reply's code and raw bytes kept without its reader.</summary>
    public static bool TryGetQueueId(int code, in ReadOnlySequence<byte> raw, out string queueId)
    {
        queueId = string.Empty;
        return ReplyCode.IsPositiveCompletion(code) && QueueIdParser.TryParse(raw, out queueId);
    }

    /// <summary>The enhanced status code (RFC 3463) at the start of the final line's text, if there is one.</summary>
    public bool TryGetEnhancedStatusCode(out EnhancedStatusCode code) => TryGetEnhancedStatusCode(Raw, out code);

    /// <summary>
    /// As <see cref="TryGetEnhancedStatusCode(out EnhancedStatusCode)"/>, for a reply's raw bytes (every line with its
    /// CRLF) kept without its reader.
    /// </summary>
    public static bool TryGetEnhancedStatusCode(in ReadOnlySequence<byte> raw, out EnhancedStatusCode code)
    {
        var text = FinalLineTextBytes(raw);
        Span<byte> peek = stackalloc byte[EnhancedCodePeek];
        var length = (int)Math.Min(text.Length, EnhancedCodePeek);
        text.Slice(0, length).CopyTo(peek);
        return EnhancedStatusCode.TryParse(peek[..length], out code, out _);
    }

    private static ReadOnlySequence<byte> FinalLineTextBytes(ReadOnlySequence<byte> raw)
    {
        var body = raw;
        if (body.Length >= 2)
        {
            Span<byte> tail = stackalloc byte[2];
            body.Slice(body.Length - 2).CopyTo(tail);
            if (tail[0] == (byte)'\r' && tail[1] == (byte)'\n')
            {
                body = body.Slice(0, body.Length - 2);
            }
        }

        // The final line starts after the last LF that remains (Raw has no LastIndexOf across segments).
        var lineStart = body.Start;
        var segmentStart = body.Start;
        var next = body.Start;
        while (body.TryGet(ref next, out var memory))
        {
            var lf = memory.Span.LastIndexOf((byte)'\n');
            if (lf >= 0)
            {
                lineStart = body.GetPosition(lf + 1, segmentStart);
            }

            segmentStart = next;
        }

        var line = body.Slice(lineStart);
        return line.Length > TextOffset ? line.Slice(TextOffset) : ReadOnlySequence<byte>.Empty;
    }
}
