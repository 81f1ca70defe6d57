using EarlyPipeProxy.Sessions.EhloCache;
using EarlyPipeProxy.Sessions.Telemetry;

namespace EarlyPipeProxy.Host.Telemetry;

/// <summary>Connects the instruments to their exporter and to the state they observe, before the first connection.</summary>
public sealed class TelemetryStartup(ProxyMetrics metrics, PrometheusMeterBridge bridge, EhloCache cache, HealthState health) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        // The bridge listens from its creation; the observable instruments need their sources.
        _ = bridge;
        metrics.ObserveEhloCache(cache);
        metrics.ObserveHealth(health.ListenerMeasurements, health.UpstreamMeasurements);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
