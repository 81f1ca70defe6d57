using System.Buffers;

namespace EarlyPipeProxy.Fuzz.Drivers;

/// <summary>One segment of a hand-built <see cref="ReadOnlySequence{T}"/>.</summary>
internal sealed class SequenceSegment : ReadOnlySequenceSegment<byte>
{
    public SequenceSegment(ReadOnlyMemory<byte> memory, long runningIndex)
    {
        Memory = memory;
        RunningIndex = runningIndex;
    }

    public SequenceSegment Append(ReadOnlyMemory<byte> memory)
    {
        var next = new SequenceSegment(memory, RunningIndex + Memory.Length);
        Next = next;
        return next;
    }
}
