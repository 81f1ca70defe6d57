namespace EarlyPipeProxy.Protocol.Commands;

/// <summary>RFC 2920 §3.1 grouping: which commands must be the last in a group sent before waiting for replies.</summary>
public static class PipeliningRules
{
    /// <summary>
    /// True for commands after which a client must wait for the reply before sending more:
    /// EHLO, HELO, DATA, VRFY, EXPN, TURN, ETRN, QUIT, NOOP (RFC 2920), STARTTLS (RFC 3207), AUTH (RFC 4954),
    /// XCLIENT/XFORWARD and Unknown (we do not know what they change). MAIL, RCPT, RSET and BDAT may be followed by more.
    /// </summary>
    public static bool EndsGroup(SmtpVerb verb) => throw new NotImplementedException();
}
