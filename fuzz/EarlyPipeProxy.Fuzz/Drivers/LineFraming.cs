using System.Buffers;
using EarlyPipeProxy.Protocol.Commands;
using EarlyPipeProxy.Protocol.Lines;

namespace EarlyPipeProxy.Fuzz.Drivers;

/// <summary>
/// Reads lines (or command lines) from arriving input the way the downstream channel does: Incomplete waits for more,
/// TooLong skips to the next LF, possibly across arrivals. Reports each outcome with the line's bytes, checking the
/// reader's own promises as it goes.
/// </summary>
internal static class LineFraming
{
    /// <param name="maxLength">The line limit without CRLF.</param>
    /// <param name="maxAuthLength">For command lines: the limit of an AUTH line; null reads plain lines.</param>
    public static List<string> Run(ArrivingInput input, int maxLength, int? maxAuthLength)
    {
        var events = new List<string>();
        var skipping = false;
        while (true)
        {
            var buffer = input.Buffer;
            var reader = new SequenceReader<byte>(buffer);
            while (true)
            {
                if (skipping)
                {
                    if (!SmtpLineReader.TrySkipLine(ref reader))
                    {
                        break;
                    }

                    skipping = false;
                    events.Add($"skipped to {input.Consumed + reader.Consumed}");
                }

                var before = reader.Consumed;
                var status = maxAuthLength is { } auth
                    ? SmtpLineReader.TryReadCommandLine(ref reader, maxLength, auth, out var line)
                    : SmtpLineReader.TryReadLine(ref reader, maxLength, out line);
                CheckLine(status, line, reader.Consumed - before, reader.Remaining, maxLength, maxAuthLength);
                if (status == LineReadStatus.Incomplete)
                {
                    break;
                }

                if (status == LineReadStatus.TooLong)
                {
                    events.Add("TooLong");
                    skipping = true;
                    continue;
                }

                events.Add($"{status} {Shown.Bytes(line)}");
                if (maxAuthLength is not null && status == LineReadStatus.Complete)
                {
                    events.Add(CommandParsing.Describe(line));
                }
            }

            input.AdvanceTo(buffer, reader.Position);
            if (!input.TryArrive())
            {
                events.Add($"closed with {input.Length - input.Consumed} unread, skipping {skipping}");
                return events;
            }
        }
    }

    private static void CheckLine(LineReadStatus status, in ReadOnlySequence<byte> line, long consumed, long remaining, int maxLength, int? maxAuthLength)
    {
        var window = (long)Math.Max(maxLength, maxAuthLength ?? 0) + 2;
        switch (status)
        {
            case LineReadStatus.Incomplete when consumed != 0 || !line.IsEmpty:
            case LineReadStatus.TooLong when consumed != 0 || !line.IsEmpty:
                throw new InvariantViolationException($"{status} consumed {consumed} bytes");
            case LineReadStatus.Incomplete when remaining > window:
                throw new InvariantViolationException($"Incomplete with {remaining} bytes buffered, more than a line can take");
            case LineReadStatus.Complete when consumed != line.Length + 2 || line.Length > window - 2:
            case LineReadStatus.Complete when line.PositionOf((byte)'\r') is not null || line.PositionOf((byte)'\n') is not null:
                throw new InvariantViolationException($"Complete line {Shown.Bytes(line)} after consuming {consumed}");
            case LineReadStatus.Complete when maxAuthLength is not null && line.Length > maxLength && !SmtpCommandParser.StartsWithAuth(line):
                throw new InvariantViolationException($"a line over the limit that is not AUTH: {Shown.Bytes(line)}");
            case LineReadStatus.BareLineEnding when consumed != line.Length + 1 || line.PositionOf((byte)'\n') is not null:
                throw new InvariantViolationException($"bare line {Shown.Bytes(line)} after consuming {consumed}");
        }
    }
}
