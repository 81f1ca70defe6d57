namespace EarlyPipeProxy.Protocol.Commands;

/// <summary>RFC 2920 §3.1 grouping: which commands must be the last in a group sent before waiting for replies.</summary>
public static class PipeliningRules
{
    /// <summary>
    /// True for commands after which a client must wait for the reply before sending more:
    /// EHLO, HELO, DATA, VRFY, EXPN, TURN, ETRN, QUIT, NOOP (RFC 2920), STARTTLS (RFC 3207), AUTH (RFC 4954),
    /// XCLIENT/XFORWARD and Unknown (we do not know what they change). MAIL, RCPT, RSET and BDAT may be followed by more.
    /// </summary>
    public static bool EndsGroup(SmtpVerb verb) => verb switch
    {
        // The only commands RFC 2920 (and RFC 3030 for BDAT) allow anywhere in a group. Everything else, HELP
        // included, is treated as a synchronisation point: waiting is always safe, not waiting may not be.
        SmtpVerb.Mail or SmtpVerb.Rcpt or SmtpVerb.Rset or SmtpVerb.Bdat => false,
        _ => true,
    };
}
