namespace EarlyPipeProxy.EndToEnd.Tests.Infrastructure;

/// <summary>One connection of tests/peers/lockstep-send.py --json.</summary>
public sealed record LockstepConnectionReport
{
    public int Connection { get; init; }

    public double? ConnectMs { get; init; }

    /// <summary>From just before connect() to just after close().</summary>
    public double TotalMs { get; init; }

    /// <summary>Every message got 250 after end-of-data and the session ended without error.</summary>
    public bool Ok { get; init; }

    public string? Error { get; init; }

    public IReadOnlyList<LockstepStep> Steps { get; init; } = [];

    public IReadOnlyList<LockstepMessageReport> Messages { get; init; } = [];

    /// <summary>The reply to the (first) RCPT for <paramref name="recipient"/>; fails when that RCPT was never sent.</summary>
    public LockstepStep Rcpt(string recipient) =>
        Steps.FirstOrDefault(s => s.Command == $"RCPT TO:<{recipient}>")
        ?? throw new InvalidOperationException($"no RCPT TO:<{recipient}> in connection {Connection}:\n{this}");

    public override string ToString() =>
        $"connection {Connection}: ok={Ok} error={Error ?? "none"} total={TotalMs} ms\n  " + string.Join("\n  ", Steps);
}
