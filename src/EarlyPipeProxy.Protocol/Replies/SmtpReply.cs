using System.Buffers;

namespace EarlyPipeProxy.Protocol.Replies;

/// <summary>
/// One SMTP reply as it arrived: the three-digit code and the raw bytes of all its lines including every CRLF,
/// so that it can be relayed verbatim. <see cref="Raw"/> points into the reader's buffer and is valid until it advances.
/// </summary>
public readonly record struct SmtpReply(int Code, ReadOnlySequence<byte> Raw, int LineCount)
{
    public bool IsPositiveCompletion => Code is >= 200 and < 300;
    public bool IsPositiveIntermediate => Code is >= 300 and < 400;
    public bool IsTransientFailure => Code is >= 400 and < 500;
    public bool IsPermanentFailure => Code >= 500;

    /// <summary>The text of the final line without code, separator and CRLF (allocates: for logs and errors only).</summary>
    public string FinalLineText() => throw new NotImplementedException();

    /// <summary>The enhanced status code (RFC 3463) at the start of the final line's text, if there is one.</summary>
    public bool TryGetEnhancedStatusCode(out EnhancedStatusCode code) => throw new NotImplementedException();
}
