using System.Buffers;
using EarlyPipeProxy.Protocol.Replies;

namespace EarlyPipeProxy.Fuzz.Drivers;

/// <summary>
/// Reads replies from arriving input the way the upstream connection does: Incomplete waits for more, Malformed and
/// TooLong end the connection. Checks the bounds on the way: a reply never holds more than maxLines lines of at most
/// maxLineLength octets, and Incomplete never leaves more buffered than one such reply. A 250 reply also goes through
/// EhloCapabilities (<see cref="EhloParsing"/>).
/// </summary>
internal static class ReplyFraming
{
    public static List<string> Run(ArrivingInput input, int maxLineLength, int maxLines)
    {
        var events = new List<string>();
        var bound = (long)maxLines * (maxLineLength + 2);
        while (true)
        {
            var buffer = input.Buffer;
            var reader = new SequenceReader<byte>(buffer);
            while (true)
            {
                var before = reader.Consumed;
                var status = SmtpReplyReader.TryReadReply(ref reader, maxLineLength, out var reply, maxLines);
                if (status != ReplyReadStatus.Complete)
                {
                    if (reader.Consumed != before || reply != default)
                    {
                        throw new InvariantViolationException($"{status} moved the reader or set a reply");
                    }

                    if (status == ReplyReadStatus.Incomplete && reader.Remaining > bound)
                    {
                        throw new InvariantViolationException($"Incomplete with {reader.Remaining} bytes buffered, over the {bound} a reply may hold");
                    }

                    if (status == ReplyReadStatus.Incomplete)
                    {
                        break;
                    }

                    events.Add(status.ToString());
                    return events;
                }

                events.Add(Describe(reply, maxLineLength, maxLines));
            }

            input.AdvanceTo(buffer, reader.Position);
            if (!input.TryArrive())
            {
                events.Add($"closed with {input.Length - input.Consumed} unread");
                return events;
            }
        }
    }

    private static string Describe(in SmtpReply reply, int maxLineLength, int maxLines)
    {
        var raw = reply.Raw.ToArray();
        var lines = SplitLines(raw);
        if (reply.LineCount != lines.Count || reply.LineCount < 1 || reply.LineCount > maxLines)
        {
            throw new InvariantViolationException($"reply {Shown.Bytes(raw)} counted {reply.LineCount} lines");
        }

        for (var i = 0; i < lines.Count; i++)
        {
            var line = lines[i];
            var isLast = i == lines.Count - 1;
            if (line.Length > maxLineLength || line.Length < 3 || !int.TryParse(line[..3], out var code) || code != reply.Code
                || (line.Length > 3 && line[3] != (isLast ? ' ' : '-')) || (!isLast && line.Length == 3))
            {
                throw new InvariantViolationException($"reply {Shown.Bytes(raw)}: line {i} does not belong in a reply of code {reply.Code}");
            }
        }

        var enhanced = reply.TryGetEnhancedStatusCode(out var status) ? status.ToString() : "-";
        var ehlo = reply.Code == 250 ? " " + EhloParsing.Describe(reply.Raw) : "";
        return $"{reply.Code} lines={reply.LineCount} {Shown.Bytes(raw)} final={reply.FinalLineText().Length} enhanced={enhanced}{ehlo}";
    }

    /// <summary>The CRLF-ended lines of a raw reply, as Latin-1 strings without CRLF; throws when it is not all such lines.</summary>
    private static List<string> SplitLines(byte[] raw)
    {
        var lines = new List<string>();
        var start = 0;
        for (var i = 0; i < raw.Length; i++)
        {
            if (raw[i] == '\n')
            {
                if (i == start || raw[i - 1] != '\r' || Array.IndexOf(raw, (byte)'\r', start, i - 1 - start) >= 0)
                {
                    throw new InvariantViolationException($"reply {Shown.Bytes(raw)} has a line not ended by CRLF");
                }

                lines.Add(System.Text.Encoding.Latin1.GetString(raw, start, i - 1 - start));
                start = i + 1;
            }
        }

        if (start != raw.Length)
        {
            throw new InvariantViolationException($"reply {Shown.Bytes(raw)} does not end with CRLF");
        }

        return lines;
    }
}
