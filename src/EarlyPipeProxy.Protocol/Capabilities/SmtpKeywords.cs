namespace EarlyPipeProxy.Protocol.Capabilities;

/// <summary>
/// The EHLO keywords the proxy looks for, adds or hides, spelled once. EHLO keywords are matched ASCII
/// case-insensitively (RFC 5321 §2.4), which <see cref="EhloCapabilities"/> does; these are the canonical spellings
/// used when the proxy writes one itself.
/// </summary>
public static class SmtpKeywords
{
    /// <summary>RFC 2920: the server reads a group of commands before answering.</summary>
    public const string Pipelining = "PIPELINING";

    /// <summary>RFC 3030: BDAT.</summary>
    public const string Chunking = "CHUNKING";

    /// <summary>RFC 3030: BODY=BINARYMIME (needs CHUNKING).</summary>
    public const string BinaryMime = "BINARYMIME";

    /// <summary>RFC 6152: BODY=8BITMIME.</summary>
    public const string EightBitMime = "8BITMIME";

    /// <summary>RFC 3207.</summary>
    public const string StartTls = "STARTTLS";

    /// <summary>RFC 4954: the parameters list the SASL mechanisms.</summary>
    public const string Auth = "AUTH";

    /// <summary>RFC 1870: the parameter, when present, is the largest message accepted.</summary>
    public const string Size = "SIZE";

    /// <summary>RFC 6531.</summary>
    public const string SmtpUtf8 = "SMTPUTF8";

    /// <summary>RFC 2034.</summary>
    public const string EnhancedStatusCodes = "ENHANCEDSTATUSCODES";

    /// <summary>Postfix's XCLIENT extension (the proxy tells the backend who the real client is).</summary>
    public const string Xclient = "XCLIENT";

    /// <summary>Postfix's XFORWARD extension.</summary>
    public const string Xforward = "XFORWARD";
}
