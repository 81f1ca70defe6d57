using System.Buffers;
using System.Text;

namespace EarlyPipeProxy.Protocol.Replies;

/// <summary>
/// The queue id a server names in its reply to the end of data (DATA's final dot, or BDAT LAST), so that a message
/// can be followed from the proxy's log into the server's: Postfix answers "250 2.0.0 Ok: queued as 4Xyz…" (a long
/// queue id, or a short hex one such as "3F2A81234B"), Exim "250 OK id=1abcDE-000123-XY" (4.96; 4.97 and later
/// write longer parts, "1rKPGr-00000000Bsf-0Ubu"). Other servers' wording is not guessed at.
/// </summary>
/// <remarks>
/// The reply comes from the network and goes into a log line, so what is returned is bounded and made of safe
/// characters only: letters, digits and '-'. A token with anything else in it (or longer than
/// <see cref="MaxLength"/>) is no queue id, rather than a cut-down one that would point at the wrong message.
/// </remarks>
public static class QueueIdParser
{
    /// <summary>Longer than any id Postfix (≤ 17) or Exim (23 since 4.97) writes.</summary>
    public const int MaxLength = 40;

    // Of a reply line, the part looked at: the markers come early in every wording we know.
    private const int LinePeek = 256;

    private static ReadOnlySpan<byte> PostfixMarker => "queued as "u8;

    private static ReadOnlySpan<byte> EximMarker => "id="u8;

    /// <summary>
    /// The queue id in a reply's raw bytes (every line with its CRLF), looked for in each line in turn; false when no
    /// line names one. The code is not checked: only a positive completion names a queued message, and that is the
    /// caller's to know (see <see cref="SmtpReply.TryGetQueueId(out string)"/>).
    /// </summary>
    public static bool TryParse(in ReadOnlySequence<byte> raw, out string queueId)
    {
        var reader = new SequenceReader<byte>(raw);
        Span<byte> peek = stackalloc byte[LinePeek];
        while (!reader.End)
        {
            if (!reader.TryReadTo(out ReadOnlySequence<byte> line, (byte)'\n'))
            {
                line = reader.UnreadSequence;
                reader.AdvanceToEnd();
            }

            var length = (int)Math.Min(line.Length, LinePeek);
            line.Slice(0, length).CopyTo(peek);
            if (TryParseLine(peek[..length], out queueId))
            {
                return true;
            }
        }

        queueId = string.Empty;
        return false;
    }

    /// <summary>One line, "ddd text" or "ddd-text" with or without its CR.</summary>
    public static bool TryParseLine(ReadOnlySpan<byte> line, out string queueId)
    {
        queueId = string.Empty;
        var text = line.Length > 4 ? line[4..] : [];
        var postfix = IndexOfIgnoreCase(text, PostfixMarker);
        if (postfix >= 0)
        {
            return TryToken(text[(postfix + PostfixMarker.Length)..], out queueId);
        }

        // "id=" as a word of its own: "InternalId=…" (Exchange) is not Exim's id.
        for (var at = IndexOfIgnoreCase(text, EximMarker); at >= 0;)
        {
            if (at == 0 || text[at - 1] == (byte)' ')
            {
                return TryToken(text[(at + EximMarker.Length)..], out queueId);
            }

            var next = IndexOfIgnoreCase(text[(at + 1)..], EximMarker);
            at = next < 0 ? -1 : at + 1 + next;
        }

        return false;
    }

    private static bool TryToken(ReadOnlySpan<byte> rest, out string queueId)
    {
        queueId = string.Empty;
        var length = 0;
        while (length < rest.Length && IsIdCharacter(rest[length]))
        {
            length++;
        }

        // The id ends the line or a word; "4Xyz;rm" or an escape sequence after it is not an id.
        var ended = length == rest.Length || rest[length] is (byte)' ' or (byte)'\r' or (byte)'\n' or (byte)',' or (byte)')' or (byte)']';
        if (length == 0 || length > MaxLength || !ended || rest[0] == (byte)'-')
        {
            return false;
        }

        queueId = Encoding.ASCII.GetString(rest[..length]);
        return true;
    }

    private static bool IsIdCharacter(byte b) => char.IsAsciiLetterOrDigit((char)b) || b == (byte)'-';

    private static int IndexOfIgnoreCase(ReadOnlySpan<byte> text, ReadOnlySpan<byte> lowerCaseMarker)
    {
        for (var i = 0; i + lowerCaseMarker.Length <= text.Length; i++)
        {
            if (Ascii.EqualsIgnoreCase(text.Slice(i, lowerCaseMarker.Length), lowerCaseMarker))
            {
                return i;
            }
        }

        return -1;
    }
}
