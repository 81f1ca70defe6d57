using System.Buffers;

namespace EarlyPipeProxy.Protocol.Data;

/// <summary>RFC 3030 BDAT framing: a chunk is exactly the announced number of octets, never delimited by lines.</summary>
public static class BdatChunk
{
    /// <summary>
    /// Returns the prefix of <paramref name="buffer"/> that belongs to the chunk (at most <paramref name="remaining"/>
    /// octets) and subtracts its length from <paramref name="remaining"/>.
    /// </summary>
    public static ReadOnlySequence<byte> Take(in ReadOnlySequence<byte> buffer, ref long remaining)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(remaining);

        var length = Math.Min(buffer.Length, remaining);
        remaining -= length;
        return buffer.Slice(0, length);
    }
}
