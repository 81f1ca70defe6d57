namespace EarlyPipeProxy.Host.Telemetry;

/// <summary>The HTTP endpoint for /metrics and /healthz (bound from the "Metrics" configuration section).</summary>
public sealed class MetricsOptions
{
    public const string SectionName = "Metrics";

    /// <summary>"address:port" of the HTTP listener; unset or empty: no endpoint (the instruments still count).</summary>
    public string? Listen { get; set; }

    /// <summary>How often each backend and fixed upstream is probed (connect, banner, EHLO, QUIT) for /healthz.</summary>
    public TimeSpan ProbeInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>A probe that takes longer has failed.</summary>
    public TimeSpan ProbeTimeout { get; set; } = TimeSpan.FromSeconds(10);
}
