using System.Buffers;
using EarlyPipeProxy.Protocol.Commands;
using EarlyPipeProxy.Protocol.Data;
using EarlyPipeProxy.Protocol.Lines;

namespace EarlyPipeProxy.Fuzz.Drivers;

/// <summary>
/// Frames a client's byte stream as the inbound session does, with the protocol layer alone: command lines (AUTH may be
/// longer), a DATA body up to its end-of-data (a refused body drained to its end), a BDAT chunk of exactly its
/// announced size (<see cref="BdatChunk.Take"/> over as many reads as it spans). A malformed BDAT or an over-long line
/// ends the framing, since nothing after it can be placed. Reports each command and each body or chunk with its bytes.
/// </summary>
internal static class SessionFraming
{
    public static List<string> Run(ArrivingInput input, int maxLength, int maxAuthLength)
    {
        var events = new List<string>();
        var body = new ArrayBufferWriter<byte>();
        var scanner = DataTerminatorScanner.Create();
        var inData = false;
        long bdatRemaining = -1;
        var bdatLast = false;
        while (true)
        {
            var buffer = input.Buffer;
            var reader = new SequenceReader<byte>(buffer);
            while (true)
            {
                if (bdatRemaining >= 0)
                {
                    var chunk = BdatChunk.Take(reader.UnreadSequence, ref bdatRemaining);
                    if (chunk.Length > reader.Remaining || bdatRemaining < 0)
                    {
                        throw new InvariantViolationException($"BDAT took {chunk.Length} of {reader.Remaining}, {bdatRemaining} left");
                    }

                    Append(body, chunk);
                    reader.Advance(chunk.Length);
                    if (bdatRemaining > 0)
                    {
                        break;
                    }

                    events.Add($"chunk last={bdatLast} {Shown.Bytes(body.WrittenSpan)}");
                    body.ResetWrittenCount();
                    bdatRemaining = -1;
                    continue;
                }

                if (inData)
                {
                    var unread = reader.UnreadSequence;
                    var status = scanner.Scan(unread, out var position);
                    var forwarded = unread.Slice(unread.Start, position);
                    Append(body, forwarded);
                    reader.Advance(forwarded.Length);
                    if (status == DataScanStatus.NeedMoreData)
                    {
                        break;
                    }

                    if (status != DataScanStatus.EndOfData)
                    {
                        events.Add($"body refused: {status}");
                        scanner.IgnoreBareLineEndings = true;
                        continue;
                    }

                    events.Add($"body {Shown.Bytes(body.WrittenSpan)}");
                    body.ResetWrittenCount();
                    inData = false;
                    continue;
                }

                var read = SmtpLineReader.TryReadCommandLine(ref reader, maxLength, maxAuthLength, out var line);
                if (read == LineReadStatus.Incomplete)
                {
                    break;
                }

                if (read != LineReadStatus.Complete)
                {
                    events.Add(read.ToString());
                    return events;
                }

                var command = SmtpCommandParser.Parse(line);
                events.Add($"{command.Verb} {Shown.Bytes(line)}");
                if (command.HasControlByte)
                {
                    continue;
                }

                if (command.Verb == SmtpVerb.Data)
                {
                    inData = true;
                    scanner = DataTerminatorScanner.Create();
                }
                else if (command.IsMalformedBdat)
                {
                    events.Add("malformed BDAT");
                    return events;
                }
                else if (command.Verb == SmtpVerb.Bdat)
                {
                    bdatRemaining = command.BdatChunkSize;
                    bdatLast = command.BdatLast;
                }
            }

            input.AdvanceTo(buffer, reader.Position);
            if (!input.TryArrive())
            {
                var state = inData ? "in DATA" : bdatRemaining >= 0 ? $"in BDAT, {bdatRemaining} owed" : "between commands";
                events.Add($"closed {state} with {body.WrittenCount} taken, {input.Length - input.Consumed} unread");
                return events;
            }
        }
    }

    private static void Append(ArrayBufferWriter<byte> body, in ReadOnlySequence<byte> piece)
    {
        foreach (var segment in piece)
        {
            body.Write(segment.Span);
        }
    }
}
