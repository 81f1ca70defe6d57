namespace EarlyPipeProxy.Sessions.Upstream;

/// <summary>
/// What a health probe of a backend or fixed upstream found: whether a session through it can work now, and in a few
/// words what was seen (when up) or why not (when down), for /healthz, the log and `earlypipe status`.
/// </summary>
public sealed record ProbeVerdict(bool IsUp, string Detail)
{
    public static ProbeVerdict Up(string detail) => new(true, detail);

    public static ProbeVerdict Down(string reason) => new(false, reason);
}
