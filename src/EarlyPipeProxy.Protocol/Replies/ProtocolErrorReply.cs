using System.Buffers;

namespace EarlyPipeProxy.Protocol.Replies;

/// <summary>
/// Replies that may object to how the client spoke (the order or form of its commands) rather than to the mail: 500
/// (unrecognised), 501 (bad arguments), 503 (bad sequence), a permanent reply with an enhanced code 5.5.x (RFC 3463
/// §3.6, mail delivery protocol status), and 554 whatever its text. 554 is the code servers answer input they did not
/// invite with: Exim's "554 SMTP synchronization error" (sent, then the connection dropped), Postfix's "554 5.5.0
/// Error: SMTP protocol synchronization". It is also a policy refusal ("554 5.7.1 Relay access denied"), so whoever
/// acts on this must expect the same reply again when it asks again the ordinary way. A transient reply (4yz) is never
/// one here: it says "not now", which is the sender's to retry.
/// </summary>
public static class ProtocolErrorReply
{
    /// <summary>Whether <paramref name="reply"/> (its raw bytes, every line with its CRLF) is such a reply.</summary>
    public static bool Is(in ReadOnlySequence<byte> reply)
    {
        var code = ReplyCode.Peek(reply);
        if (code is ReplyCode.SyntaxError or ReplyCode.ParameterSyntaxError or ReplyCode.BadSequence or ReplyCode.TransactionFailed)
        {
            return true;
        }

        return ReplyCode.IsPermanentNegative(code)
            && SmtpReply.TryGetEnhancedStatusCode(reply, out var enhanced)
            && enhanced is { Class: 5, Subject: 5 };
    }
}
