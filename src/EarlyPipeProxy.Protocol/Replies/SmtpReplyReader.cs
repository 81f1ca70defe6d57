using System.Buffers;

namespace EarlyPipeProxy.Protocol.Replies;

/// <summary>Frames multi-line SMTP replies (RFC 5321 §4.2.1) without allocating.</summary>
public static class SmtpReplyReader
{
    /// <summary>
    /// Reads one whole reply: lines "ddd-text" continue it, "ddd text" or "ddd" ends it; every line must end in CRLF
    /// and carry the same code. On Complete the reader is past the final CRLF and <paramref name="reply"/>.Raw covers all lines.
    /// On Incomplete, Malformed or TooLong the reader is not advanced. <paramref name="maxLineLength"/> excludes the CRLF.
    /// A multi-line banner ("220-" teaser, then a pause, then "220 ") stays Incomplete until its final line arrives.
    /// </summary>
    public static ReplyReadStatus TryReadReply(ref SequenceReader<byte> reader, int maxLineLength, out SmtpReply reply)
        => throw new NotImplementedException();
}
