namespace EarlyPipeProxy.Sessions.Inbound;

/// <summary>
/// The few replies the proxy writes itself. None of them accepts anything: acceptance (250 to MAIL, RCPT,
/// end-of-data) only ever comes from the backend.
/// </summary>
public static class ProxyReplies
{
    // Exim's wording for pre-greeting input from a host that was not offered early pipelining.
    public static ReadOnlySpan<byte> SynchronizationError => "554 5.5.0 SMTP synchronization error\r\n"u8;

    public static ReadOnlySpan<byte> LineTooLong => "500 5.5.2 Line too long\r\n"u8;

    public static ReadOnlySpan<byte> BareLineEndingInCommand => "500 5.5.2 Error: bare <CR> or <LF> in command line\r\n"u8;

    // Same code and meaning as Postfix's smtpd_forbid_bare_newline = reject.
    public static ReadOnlySpan<byte> BareLineEndingInData => "550 5.5.2 Error: bare <CR>, <LF> or NUL in message data; message not delivered\r\n"u8;

    public static ReadOnlySpan<byte> NotAuthorized => "550 5.7.0 Error: insufficient authorization\r\n"u8;

    public static ReadOnlySpan<byte> StartTlsUnavailable => "454 4.7.0 TLS not available\r\n"u8;

    public static ReadOnlySpan<byte> StartTlsGoAhead => "220 2.0.0 Ready to start TLS\r\n"u8;

    public static ReadOnlySpan<byte> TlsAlreadyActive => "554 5.5.1 Error: TLS already active\r\n"u8;

    public static ReadOnlySpan<byte> TransactionInProgress => "503 5.5.1 Error: MAIL transaction in progress\r\n"u8;

    public static ReadOnlySpan<byte> StartTlsAfterAuth => "503 5.5.1 Error: STARTTLS after AUTH is not supported\r\n"u8;

    public static ReadOnlySpan<byte> SendEhloFirst => "503 5.5.1 Error: send EHLO first\r\n"u8;

    public static ReadOnlySpan<byte> BdatUnavailable => "502 5.5.1 Error: BDAT not offered\r\n"u8;

    public static ReadOnlySpan<byte> BdatSyntax => "501 5.5.4 Syntax: BDAT chunk-size [LAST]\r\n"u8;

    public static ReadOnlySpan<byte> BackendUnavailable => "421 4.4.2 Service not available: backend connection failed\r\n"u8;

    public static ReadOnlySpan<byte> Timeout => "421 4.4.2 Error: timeout exceeded\r\n"u8;

    public static ReadOnlySpan<byte> TooManyConnections => "421 4.7.0 Error: too many connections\r\n"u8;

    public static ReadOnlySpan<byte> ShuttingDown => "421 4.3.2 Service shutting down\r\n"u8;
}
