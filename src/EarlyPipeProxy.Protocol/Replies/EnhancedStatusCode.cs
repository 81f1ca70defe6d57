namespace EarlyPipeProxy.Protocol.Replies;

/// <summary>An RFC 3463 enhanced status code, class.subject.detail (e.g. 5.7.1).</summary>
public readonly record struct EnhancedStatusCode(int Class, int Subject, int Detail)
{
    /// <summary>Parses "c.s.d" at the start of <paramref name="text"/> (class 2, 4 or 5; subject and detail 0-999), followed by a space or the end.</summary>
    public static bool TryParse(ReadOnlySpan<byte> text, out EnhancedStatusCode code, out int length) => throw new NotImplementedException();

    public override string ToString() => $"{Class}.{Subject}.{Detail}";
}
