using System.Buffers;
using System.Text;

namespace EarlyPipeProxy.Fuzz.Drivers;

/// <summary>Bytes as readable text for event lists and failure messages: printable ASCII as is, the rest escaped.</summary>
internal static class Shown
{
    public static string Bytes(in ReadOnlySequence<byte> bytes) => Bytes(bytes.ToArray());

    public static string Bytes(ReadOnlySpan<byte> bytes)
    {
        var text = new StringBuilder(bytes.Length + 2);
        text.Append('"');
        foreach (var b in bytes)
        {
            _ = b switch
            {
                (byte)'\r' => text.Append("\\r"),
                (byte)'\n' => text.Append("\\n"),
                (byte)'\\' => text.Append("\\\\"),
                (byte)'"' => text.Append("\\\""),
                >= 0x20 and < 0x7f => text.Append((char)b),
                _ => text.Append("\\x").Append(b.ToString("x2")),
            };
        }

        return text.Append('"').ToString();
    }

    /// <summary>Two event lists side by side from the first difference, for a failure message.</summary>
    public static string FirstDifference(IReadOnlyList<string> expected, IReadOnlyList<string> actual)
    {
        var i = 0;
        while (i < expected.Count && i < actual.Count && expected[i] == actual[i])
        {
            i++;
        }

        string At(IReadOnlyList<string> list) => i < list.Count ? list[i] : "(none)";
        return $"event {i}: expected {At(expected)}, got {At(actual)} ({expected.Count} vs {actual.Count} events)";
    }

    /// <summary>Throws when the two runs' events differ.</summary>
    public static void RequireSame(IReadOnlyList<string> unsplit, IReadOnlyList<string> split, string what)
    {
        if (!unsplit.SequenceEqual(split))
        {
            throw new InvariantViolationException($"{what}: split input differs from unsplit, {FirstDifference(unsplit, split)}");
        }
    }
}
