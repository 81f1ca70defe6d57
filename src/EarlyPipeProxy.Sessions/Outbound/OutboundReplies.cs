namespace EarlyPipeProxy.Sessions.Outbound;

/// <summary>
/// The replies the outbound proxy gives a sender on its own. Acceptances here carry no decision: MAIL is answered
/// before the remote was asked only where the remote's real answer still reaches the sender at its first RCPT, and
/// 354 only where the remote's DATA answer still reaches it at the end of the message.
/// </summary>
public static class OutboundReplies
{
    public static ReadOnlySpan<byte> SenderOk => "250 2.1.0 Ok\r\n"u8;

    public static ReadOnlySpan<byte> Ok => "250 2.0.0 Ok\r\n"u8;

    public static ReadOnlySpan<byte> StartMailInput => "354 End data with <CR><LF>.<CR><LF>\r\n"u8;

    public static ReadOnlySpan<byte> Bye => "221 2.0.0 Bye\r\n"u8;

    public static ReadOnlySpan<byte> EhloSyntax => "501 5.5.4 Syntax: EHLO hostname\r\n"u8;

    public static ReadOnlySpan<byte> SendHeloFirst => "503 5.5.1 Error: send HELO/EHLO first\r\n"u8;

    public static ReadOnlySpan<byte> NeedRecipient => "503 5.5.1 Error: need RCPT command\r\n"u8;

    public static ReadOnlySpan<byte> RemoteUnavailable => "421 4.4.2 Service not available: remote server connection failed\r\n"u8;

    public static ReadOnlySpan<byte> NoDestination => "421 4.3.5 Error: no destination for this connection\r\n"u8;

    public static ReadOnlySpan<byte> TlsNotOffered => "421 4.7.10 Error: TLS required by policy but the remote does not offer STARTTLS\r\n"u8;
}
