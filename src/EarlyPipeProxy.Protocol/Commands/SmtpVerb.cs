namespace EarlyPipeProxy.Protocol.Commands;

/// <summary>The SMTP verbs the proxy distinguishes; everything else is <see cref="Unknown"/> and is relayed as-is.</summary>
public enum SmtpVerb
{
    Unknown,
    Helo,
    Ehlo,
    Mail,
    Rcpt,
    Data,
    Bdat,
    Rset,
    Noop,
    Quit,
    Vrfy,
    Expn,
    Help,
    StartTls,
    Auth,
    Xclient,
    Xforward,
    Etrn,
    Turn,
}
