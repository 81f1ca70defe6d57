using System.Buffers;
using System.Text;
using EarlyPipeProxy.Fuzz.Drivers;

namespace EarlyPipeProxy.Protocol.Tests.TestSupport;

/// <summary>Builds byte sequences for tests; Latin-1 so that every char stands for exactly one byte.</summary>
internal static class Bytes
{
    public static byte[] Of(string text) => Encoding.Latin1.GetBytes(text);

    public static string Text(ReadOnlySequence<byte> sequence) => Encoding.Latin1.GetString(sequence.ToArray());

    public static string Text(ReadOnlySpan<byte> span) => Encoding.Latin1.GetString(span);

    /// <summary>One segment.</summary>
    public static ReadOnlySequence<byte> Sequence(string text) => Segments(text);

    /// <summary>
    /// A sequence with one segment per argument. Each segment lives inside a larger array surrounded by guard bytes
    /// ("\r\n.\r\n") so that code reading past a segment's bounds sees line endings and fails visibly.
    /// </summary>
    public static ReadOnlySequence<byte> Segments(params string[] parts)
    {
        ArgumentOutOfRangeException.ThrowIfZero(parts.Length);
        SequenceSegment? first = null;
        SequenceSegment? last = null;
        foreach (var part in parts)
        {
            var memory = Guarded(Of(part));
            if (first is null)
            {
                first = last = new SequenceSegment(memory, 0);
            }
            else
            {
                last = last!.Append(memory);
            }
        }

        return new ReadOnlySequence<byte>(first!, 0, last!, last!.Memory.Length);
    }

    /// <summary>The text cut at the given offsets (ascending), one segment per piece; empty pieces are kept.</summary>
    public static ReadOnlySequence<byte> SplitAt(string text, params int[] cuts)
    {
        var parts = new List<string>();
        var start = 0;
        foreach (var cut in cuts)
        {
            parts.Add(text[start..cut]);
            start = cut;
        }

        parts.Add(text[start..]);
        return Segments([.. parts]);
    }

    /// <summary>One byte per segment.</summary>
    public static ReadOnlySequence<byte> OneBytePerSegment(string text)
        => text.Length == 0 ? Sequence(text) : Segments([.. text.Select(c => c.ToString())]);

    private static ReadOnlyMemory<byte> Guarded(byte[] content)
    {
        var guard = "\r\n.\r\n"u8;
        var array = new byte[content.Length + (2 * guard.Length)];
        guard.CopyTo(array);
        content.CopyTo(array, guard.Length);
        guard.CopyTo(array.AsSpan(guard.Length + content.Length));
        return array.AsMemory(guard.Length, content.Length);
    }
}
