using System.Buffers;
using EarlyPipeProxy.Protocol.Commands;

namespace EarlyPipeProxy.Fuzz.Drivers;

/// <summary>
/// Parses a command line from its segments and from one contiguous copy, requires the two to agree, and describes the
/// result for an event list.
/// </summary>
internal static class CommandParsing
{
    public static string Describe(in ReadOnlySequence<byte> line)
    {
        var command = SmtpCommandParser.Parse(line);
        var contiguous = line.ToArray();
        var fromSpan = SmtpCommandParser.Parse(contiguous);
        if (command != fromSpan)
        {
            throw new InvariantViolationException($"{Shown.Bytes(contiguous)} parses as {command} in segments, as {fromSpan} whole");
        }

        if (command.ArgumentStart < 0 || command.ArgumentStart > line.Length)
        {
            throw new InvariantViolationException($"{Shown.Bytes(contiguous)}: argument start {command.ArgumentStart} outside the line");
        }

        if ((command.Verb == SmtpVerb.Bdat) != (command.BdatChunkSize >= 0 || command.IsMalformedBdat) || (command.BdatLast && command.BdatChunkSize < 0))
        {
            throw new InvariantViolationException($"{Shown.Bytes(contiguous)}: inconsistent BDAT fields {command}");
        }

        var argument = SmtpCommandParser.GetArgument(line, command);
        return $"{command.Verb} arg@{command.ArgumentStart}={argument.Length} size={command.BdatChunkSize} last={command.BdatLast} control={command.HasControlByte}";
    }
}
