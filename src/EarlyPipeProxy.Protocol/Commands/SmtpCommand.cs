namespace EarlyPipeProxy.Protocol.Commands;

/// <summary>
/// A parsed command line. The proxy forwards the original bytes; this only says what the line is.
/// </summary>
/// <param name="Verb">The recognised verb (case-insensitive match of the first word, as Postfix's tokenizer splits words).</param>
/// <param name="ArgumentStart">Offset in the line of the first byte after the verb and its following whitespace (== line length when none).</param>
/// <param name="BdatChunkSize">For BDAT: the chunk size in octets; -1 otherwise or when the size is missing or malformed.</param>
/// <param name="BdatLast">For BDAT: whether the LAST keyword follows the size.</param>
public readonly record struct SmtpCommand(SmtpVerb Verb, int ArgumentStart, long BdatChunkSize, bool BdatLast)
{
    /// <summary>A BDAT line whose size is missing, not a decimal number, or followed by anything but LAST.</summary>
    public bool IsMalformedBdat => Verb == SmtpVerb.Bdat && BdatChunkSize < 0;

    /// <summary>
    /// The line holds a control byte (0x00-0x1F except HT, or DEL): the backend, reading a C string, would not see
    /// what the proxy saw (everything after a NUL is gone), so such a line is never relayed.
    /// </summary>
    public bool HasControlByte { get; init; }
}
