using EarlyPipeProxy.Sessions.Upstream;

namespace EarlyPipeProxy.Host.Telemetry;

/// <summary>A backend's or fixed upstream's last probe: its verdict and when it was made.</summary>
public sealed record UpstreamHealth(ProbeVerdict Verdict, DateTimeOffset CheckedAt)
{
    public bool IsUp => Verdict.IsUp;
}
