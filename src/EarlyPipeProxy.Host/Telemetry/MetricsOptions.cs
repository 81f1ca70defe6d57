namespace EarlyPipeProxy.Host.Telemetry;

/// <summary>The HTTP endpoint for /metrics and /healthz (bound from the "Metrics" configuration section).</summary>
public sealed class MetricsOptions
{
    public const string SectionName = "Metrics";

    /// <summary>"address:port" of the HTTP listener; unset or empty: no endpoint (the instruments still count).</summary>
    public string? Listen { get; set; }

    /// <summary>
    /// How often each backend and fixed upstream is probed for /healthz and `earlypipe status` (also once at start):
    /// what a session does before its client's first command (a backend's PROXY header or XCLIENT, and STARTTLS toward
    /// it, included), then QUIT.
    /// </summary>
    public TimeSpan ProbeInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>A probe that takes longer has failed.</summary>
    public TimeSpan ProbeTimeout { get; set; } = TimeSpan.FromSeconds(10);
}
