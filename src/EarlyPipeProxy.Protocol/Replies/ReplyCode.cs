using System.Buffers;

namespace EarlyPipeProxy.Protocol.Replies;

/// <summary>
/// Reply codes as numbers: the code at the start of a reply's bytes, its class (RFC 5321 §4.2.1, the first digit),
/// and names for the codes the proxy reasons about.
/// </summary>
public static class ReplyCode
{
    /// <summary>220: the greeting (RFC 5321 §4.2.2), and the answer to STARTTLS (RFC 3207 §4).</summary>
    public const int ServiceReady = 220;

    /// <summary>221: the answer to QUIT.</summary>
    public const int Closing = 221;

    /// <summary>235: AUTH succeeded (RFC 4954 §6).</summary>
    public const int AuthSucceeded = 235;

    /// <summary>250: requested action completed.</summary>
    public const int Ok = 250;

    /// <summary>334: a SASL challenge; the client answers with one line (RFC 4954 §4).</summary>
    public const int AuthChallenge = 334;

    /// <summary>354: the answer to DATA; the message follows.</summary>
    public const int StartMailInput = 354;

    /// <summary>421: the server is closing the connection (RFC 5321 §3.8), in answer to any command.</summary>
    public const int ServiceNotAvailable = 421;

    /// <summary>500: syntax error, command unrecognised (RFC 5321 §4.2.3).</summary>
    public const int SyntaxError = 500;

    /// <summary>501: syntax error in parameters or arguments.</summary>
    public const int ParameterSyntaxError = 501;

    /// <summary>503: bad sequence of commands.</summary>
    public const int BadSequence = 503;

    /// <summary>554: transaction failed; before the greeting, "no SMTP service here" (RFC 5321 §3.1).</summary>
    public const int TransactionFailed = 554;

    /// <summary>
    /// The code at the start of <paramref name="bytes"/>, or 0 when they do not start with three digits. Only the digits
    /// are looked at: what follows (SP, '-', CRLF or more digits) is the reply reader's business.
    /// </summary>
    public static int Peek(ReadOnlySpan<byte> bytes) =>
        bytes.Length >= 3 && char.IsAsciiDigit((char)bytes[0]) && char.IsAsciiDigit((char)bytes[1]) && char.IsAsciiDigit((char)bytes[2])
            ? ((bytes[0] - '0') * 100) + ((bytes[1] - '0') * 10) + (bytes[2] - '0')
            : 0;

    /// <summary>As <see cref="Peek(ReadOnlySpan{byte})"/>, for a sequence whose first three bytes may lie in different segments.</summary>
    public static int Peek(in ReadOnlySequence<byte> bytes)
    {
        if (bytes.FirstSpan.Length >= 3)
        {
            return Peek(bytes.FirstSpan);
        }

        Span<byte> head = stackalloc byte[3];
        var length = (int)Math.Min(bytes.Length, head.Length);
        bytes.Slice(0, length).CopyTo(head);
        return Peek(head[..length]);
    }

    /// <summary>2yz: the command was accepted and completed.</summary>
    public static bool IsPositiveCompletion(int code) => code is >= 200 and <= 299;

    /// <summary>3yz: accepted, more input is expected (354 after DATA, 334 during AUTH).</summary>
    public static bool IsIntermediate(int code) => code is >= 300 and <= 399;

    /// <summary>4yz: not accepted this time; the same command may succeed later.</summary>
    public static bool IsTransientNegative(int code) => code is >= 400 and <= 499;

    /// <summary>5yz: not accepted, and repeating it unchanged will not help.</summary>
    public static bool IsPermanentNegative(int code) => code is >= 500 and <= 599;
}
