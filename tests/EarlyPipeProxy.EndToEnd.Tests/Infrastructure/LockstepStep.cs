namespace EarlyPipeProxy.EndToEnd.Tests.Infrastructure;

/// <summary>One command of a lockstep session ("&lt;banner&gt;", "EHLO ...", "&lt;end-of-data&gt;", ...) and the reply it got.</summary>
public sealed record LockstepStep
{
    public string Command { get; init; } = "";

    /// <summary>null when the connection closed (or the read timed out) before a complete reply.</summary>
    public int? Code { get; init; }

    /// <summary>The full reply, lines joined by "\n", without CRLF.</summary>
    public string? Reply { get; init; }

    /// <summary>Milliseconds from the end of the write to the reply's last byte.</summary>
    public double Ms { get; init; }

    public string? Error { get; init; }

    public override string ToString() => $"{Command} -> {Reply ?? "(" + Error + ")"} [{Ms} ms]";
}
