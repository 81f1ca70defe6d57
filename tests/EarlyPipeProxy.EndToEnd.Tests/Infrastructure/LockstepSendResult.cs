namespace EarlyPipeProxy.EndToEnd.Tests.Infrastructure;

/// <summary>A whole tests/peers/lockstep-send.py run: its exit status and one report per connection.</summary>
public sealed record LockstepSendResult(int ExitCode, IReadOnlyList<LockstepConnectionReport> Connections, string Stderr)
{
    /// <summary>The script's own verdict: every message of every connection got 250 after end-of-data.</summary>
    public bool AllDelivered => ExitCode == 0;

    public IEnumerable<LockstepMessageReport> Messages => Connections.SelectMany(c => c.Messages);

    public override string ToString() =>
        $"lockstep-send.py exit {ExitCode}\n" + string.Join('\n', Connections) + (Stderr.Length > 0 ? "\n--- stderr\n" + Stderr : "");
}
