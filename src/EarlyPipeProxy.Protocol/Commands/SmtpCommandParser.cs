namespace EarlyPipeProxy.Protocol.Commands;

/// <summary>Classifies a command line (without its CRLF). Pure; never allocates.</summary>
public static class SmtpCommandParser
{
    /// <summary>
    /// Parses the verb: the bytes up to the first space (or end of line), compared ASCII case-insensitively.
    /// "MAIL FROM:&lt;a@b&gt;" → Mail; "RCPT TO:..." → Rcpt; "BDAT 1234 LAST" → Bdat(1234, true);
    /// "STARTTLS" → StartTls; "DATAX" → Unknown. A verb must be followed by a space or end of line to match.
    /// </summary>
    public static SmtpCommand Parse(ReadOnlySpan<byte> line) => throw new NotImplementedException();
}
