namespace EarlyPipeProxy.Protocol.Replies;

/// <summary>An RFC 3463 enhanced status code, class.subject.detail (e.g. 5.7.1).</summary>
public readonly record struct EnhancedStatusCode(int Class, int Subject, int Detail)
{
    /// <summary>Parses "c.s.d" at the start of <paramref name="text"/> (class 2, 4 or 5; subject and detail 0-999), followed by a space or the end.</summary>
    public static bool TryParse(ReadOnlySpan<byte> text, out EnhancedStatusCode code, out int length)
    {
        code = default;
        length = 0;

        if (text.Length < 5 || text[0] is not ((byte)'2' or (byte)'4' or (byte)'5') || text[1] != (byte)'.')
        {
            return false;
        }

        var index = 2;
        if (!TryReadNumber(text, ref index, out var subject) || index >= text.Length || text[index] != (byte)'.')
        {
            return false;
        }

        index++;
        if (!TryReadNumber(text, ref index, out var detail))
        {
            return false;
        }

        // "5.1.10x" or "5.1.1000" is not a code followed by text.
        if (index < text.Length && text[index] != (byte)' ')
        {
            return false;
        }

        code = new EnhancedStatusCode(text[0] - '0', subject, detail);
        length = index;
        return true;
    }

    public override string ToString() => $"{Class}.{Subject}.{Detail}";

    /// <summary>One to three decimal digits (RFC 3463: 1*3digit).</summary>
    private static bool TryReadNumber(ReadOnlySpan<byte> text, ref int index, out int value)
    {
        value = 0;
        var start = index;
        while (index < text.Length && index - start < 3 && char.IsAsciiDigit((char)text[index]))
        {
            value = (value * 10) + (text[index] - '0');
            index++;
        }

        return index > start;
    }
}
