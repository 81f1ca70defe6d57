namespace EarlyPipeProxy.Protocol.Replies;

/// <summary>Outcome of <see cref="SmtpReplyReader.TryReadReply"/>.</summary>
public enum ReplyReadStatus
{
    /// <summary>The final line of the reply has not arrived; nothing was consumed.</summary>
    Incomplete,

    /// <summary>A whole reply (all continuation lines and the final line) was read.</summary>
    Complete,

    /// <summary>A line is not "ddd" followed by SP, '-' or CRLF, a continuation line changes the code, or a line ends in a bare LF.</summary>
    Malformed,

    /// <summary>A reply line is longer than the limit.</summary>
    TooLong,
}
