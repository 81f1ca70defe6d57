using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using EarlyPipeProxy.Sessions.Telemetry;

namespace EarlyPipeProxy.Sessions.Tests.Outbound;

/// <summary>
/// The "earlypipe.connection_cache.*" measurements of one <see cref="ProxyMetrics"/>, as "lookups:hit",
/// "drops:closed", "parked:1"... (instrument's last name part, then its result or reason tag, or the value).
/// </summary>
public sealed class ConnectionCacheMeter : IDisposable
{
    private const string Prefix = "earlypipe.connection_cache.";
    private readonly MeterListener _listener = new();
    private readonly ConcurrentQueue<string> _measurements = new();

    public ConnectionCacheMeter(ProxyMetrics metrics)
    {
        ArgumentNullException.ThrowIfNull(metrics);
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (ReferenceEquals(instrument.Meter, metrics.Meter) && instrument.Name.StartsWith(Prefix, StringComparison.Ordinal))
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            var label = value.ToString(System.Globalization.CultureInfo.InvariantCulture);
            foreach (var tag in tags)
            {
                if (tag.Key is "result" or "reason")
                {
                    label = tag.Value as string ?? label;
                }
            }

            _measurements.Enqueue(instrument.Name[Prefix.Length..] + ":" + label);
        });
        _listener.Start();
    }

    public IReadOnlyList<string> Measurements => [.. _measurements];

    public void Dispose() => _listener.Dispose();
}
