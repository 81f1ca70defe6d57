namespace EarlyPipeProxy.Protocol.Lines;

/// <summary>Outcome of <see cref="SmtpLineReader.TryReadLine"/>.</summary>
public enum LineReadStatus
{
    /// <summary>No complete line yet; nothing was consumed. Read more input.</summary>
    Incomplete,

    /// <summary>A line ending in CRLF was read; the reader is past the CRLF.</summary>
    Complete,

    /// <summary>More than the limit arrived without a line end; nothing was consumed. Discard with <see cref="SmtpLineReader.TrySkipLine"/>.</summary>
    TooLong,

    /// <summary>A line ended in a bare LF or held a CR not followed by LF (RFC 5321 §2.3.8); the reader is past the LF.</summary>
    BareLineEnding,
}
