using System.Globalization;
using System.Text;

namespace EarlyPipeProxy.Protocol.Replies;

/// <summary>
/// Every reply the proxy writes itself, both directions. Inbound none accepts anything: acceptance (250 to MAIL, RCPT,
/// end of data) only ever comes from the backend. Outbound the acceptances carry no decision: MAIL is answered before
/// the remote was asked only where the remote's real answer still reaches the sender at its first RCPT, and 354 only
/// where the remote's DATA answer still reaches it at the end of the message.
/// </summary>
public static class ProxyReplies
{
    // Exim's wording for pre-greeting input from a host that was not offered early pipelining.
    public static ReadOnlySpan<byte> SynchronizationError => "554 5.5.0 SMTP synchronization error\r\n"u8;

    public static ReadOnlySpan<byte> LineTooLong => "500 5.5.2 Line too long\r\n"u8;

    public static ReadOnlySpan<byte> BareLineEndingInCommand => "500 5.5.2 Error: bare <CR> or <LF> in command line\r\n"u8;

    // A NUL ends the line early for the backend, which reads it as a C string; other controls are no SMTP command's.
    public static ReadOnlySpan<byte> ControlCharacterInCommand => "500 5.5.2 Error: NUL or control character in command line\r\n"u8;

    // Same code and meaning as Postfix's smtpd_forbid_bare_newline = reject.
    public static ReadOnlySpan<byte> BareLineEndingInData => "550 5.5.2 Error: bare <CR>, <LF> or NUL in message data; message not delivered\r\n"u8;

    public static ReadOnlySpan<byte> NotAuthorized => "550 5.7.0 Error: insufficient authorization\r\n"u8;

    public static ReadOnlySpan<byte> StartTlsUnavailable => "454 4.7.0 TLS not available\r\n"u8;

    public static ReadOnlySpan<byte> StartTlsGoAhead => "220 2.0.0 Ready to start TLS\r\n"u8;

    public static ReadOnlySpan<byte> TlsAlreadyActive => "554 5.5.1 Error: TLS already active\r\n"u8;

    public static ReadOnlySpan<byte> TransactionInProgress => "503 5.5.1 Error: MAIL transaction in progress\r\n"u8;

    // Postfix's wording for AUTH over cleartext with smtpd_tls_auth_only.
    public static ReadOnlySpan<byte> AuthNeedsTls => "530 5.7.0 Must issue a STARTTLS command first\r\n"u8;

    public static ReadOnlySpan<byte> StartTlsAfterAuth => "503 5.5.1 Error: STARTTLS after AUTH is not supported\r\n"u8;

    public static ReadOnlySpan<byte> SendEhloFirst => "503 5.5.1 Error: send EHLO first\r\n"u8;

    public static ReadOnlySpan<byte> SendHeloFirst => "503 5.5.1 Error: send HELO/EHLO first\r\n"u8;

    public static ReadOnlySpan<byte> NeedRecipient => "503 5.5.1 Error: need RCPT command\r\n"u8;

    public static ReadOnlySpan<byte> EhloSyntax => "501 5.5.4 Syntax: EHLO hostname\r\n"u8;

    public static ReadOnlySpan<byte> BdatSyntax => "501 5.5.4 Syntax: BDAT chunk-size [LAST]\r\n"u8;

    // RFC 5321 §4.1.1.11 (parameter not implemented): a BINARYMIME message can only travel by BDAT (RFC 3030 §3), and
    // the server behind the proxy does not take it, so it is refused before it exists.
    public static ReadOnlySpan<byte> BinaryMimeUnavailable => "555 5.5.4 Error: BODY=BINARYMIME not supported by the server behind this proxy\r\n"u8;

    // Between the chunks of a message the server behind the proxy receives as DATA, only BDAT (or QUIT, NOOP) can go on.
    public static ReadOnlySpan<byte> ChunkedMessageInProgress => "503 5.5.1 Error: BDAT expected, a chunked message is in progress\r\n"u8;

    // RSET between chunks of a message the server receives as DATA: its DATA cannot end without delivering, so the
    // connection is dropped (no end of data, nothing delivered) and the client is told to come back.
    public static ReadOnlySpan<byte> ChunkedMessageAbandoned => "421 4.5.0 Error: chunked message abandoned by RSET; closing connection\r\n"u8;

    // A temporary failure: the server behind the proxy answered its own DATA with neither 354 nor a refusal.
    public static ReadOnlySpan<byte> DataOutOfSequence => "451 4.5.0 Error: server answered DATA out of sequence; message not delivered\r\n"u8;

    /// <summary>
    /// The answer to a BDAT chunk (not the last) of a message the server behind the proxy receives as DATA: the chunk
    /// is in, nothing is decided; the server's verdict answers BDAT LAST (RFC 3030 §2 lets a failure be reported there).
    /// </summary>
    public static byte[] ChunkReceived(long octets) => Encoding.ASCII.GetBytes("250 2.0.0 " + octets.ToString(CultureInfo.InvariantCulture) + " octets received\r\n");

    public static ReadOnlySpan<byte> SenderOk => "250 2.1.0 Ok\r\n"u8;

    public static ReadOnlySpan<byte> Ok => "250 2.0.0 Ok\r\n"u8;

    public static ReadOnlySpan<byte> StartMailInput => "354 End data with <CR><LF>.<CR><LF>\r\n"u8;

    public static ReadOnlySpan<byte> Bye => "221 2.0.0 Bye\r\n"u8;

    public static ReadOnlySpan<byte> BackendUnavailable => "421 4.4.2 Service not available: backend connection failed\r\n"u8;

    public static ReadOnlySpan<byte> RemoteUnavailable => "421 4.4.2 Service not available: remote server connection failed\r\n"u8;

    // A temporary failure: the sender keeps the message and tries again; nothing was accepted on its behalf.
    public static ReadOnlySpan<byte> RemoteOutOfSequence => "451 4.5.0 Error: remote server answered out of sequence; message not sent\r\n"u8;

    // RFC 5321 §3.1: a server that will not serve this client says 554 and closes.
    public static ReadOnlySpan<byte> SenderNotAllowed => "554 5.7.1 Error: this proxy does not relay for your address\r\n"u8;

    // RFC 3463 5.4.6: routing loop detected.
    public static ReadOnlySpan<byte> DestinationIsThisProxy => "554 5.4.6 Error: the original destination is this proxy (mail loop)\r\n"u8;

    public static ReadOnlySpan<byte> NoDestination => "421 4.3.5 Error: no destination for this connection\r\n"u8;

    // RFC 3463 X.7.5, cryptographic failure: a handshake or certificate check with the remote that failed where TLS is
    // required (Tls:Mode Required or OnConnect). Temporary: the sender keeps the message; nothing left in cleartext.
    public static ReadOnlySpan<byte> RemoteTlsFailed => "421 4.7.5 Error: TLS with the remote server failed; nothing was sent in cleartext\r\n"u8;

    public static ReadOnlySpan<byte> TlsNotOffered => "421 4.7.10 Error: TLS required by policy but the remote does not offer STARTTLS\r\n"u8;

    // RFC 4954 §6: a temporary failure; the sender may try again once TLS to the remote works.
    public static ReadOnlySpan<byte> AuthWithoutTls => "454 4.7.0 Error: TLS to the remote failed; credentials are not relayed in cleartext\r\n"u8;

    public static ReadOnlySpan<byte> Timeout => "421 4.4.2 Error: timeout exceeded\r\n"u8;

    public static ReadOnlySpan<byte> TooManyConnections => "421 4.7.0 Error: too many connections\r\n"u8;

    // Postfix's smtpd_client_connection_count_limit says the same, with the address; the client knows its own.
    public static ReadOnlySpan<byte> TooManyConnectionsFromAddress => "421 4.7.0 Error: too many connections from your address\r\n"u8;

    // Postfix's smtpd_client_connection_rate_limit: a temporary refusal, so a well-behaved client comes back later.
    public static ReadOnlySpan<byte> ConnectionRateExceeded => "421 4.7.0 Error: too many connections from your address; try again later\r\n"u8;

    public static ReadOnlySpan<byte> ShuttingDown => "421 4.3.2 Service shutting down\r\n"u8;

    /// <summary>The proxy's own banner, for a sender answered from the EHLO cache: "220 host ESMTP".</summary>
    public static byte[] Banner(string hostName) => Line("220 ", hostName, " ESMTP");

    /// <summary>The answer to HELO from a cached or live EHLO reply: its greeting alone (no extensions after HELO).</summary>
    public static byte[] HeloReply(string greeting) => Line("250 ", greeting, string.Empty);

    // Latin-1: a greeting learnt from a server keeps its bytes; CR and LF never survive into one reply line.
    private static byte[] Line(string head, string text, string tail) =>
        Encoding.Latin1.GetBytes(head + text.Replace('\r', ' ').Replace('\n', ' ') + tail + "\r\n");
}
