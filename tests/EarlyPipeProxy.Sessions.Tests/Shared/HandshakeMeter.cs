using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using EarlyPipeProxy.Sessions.Telemetry;

namespace EarlyPipeProxy.Sessions.Tests.Shared;

/// <summary>
/// The "earlypipe.tls_handshakes" measurements of one <see cref="ProxyMetrics"/> (meter "EarlyPipeProxy"), with their
/// direction, side and resumed tags. Only that instance's meter is listened to, so tests running at the same time
/// do not mix.
/// </summary>
public sealed class HandshakeMeter : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentQueue<HandshakeMeasurement> _measurements = new();

    public HandshakeMeter(ProxyMetrics metrics)
    {
        ArgumentNullException.ThrowIfNull(metrics);
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (ReferenceEquals(instrument.Meter, metrics.Meter) && instrument.Meter.Name == ProxyMetrics.MeterName
                && instrument.Name == "earlypipe.tls_handshakes")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            string? direction = null;
            string? side = null;
            string? resumed = null;
            foreach (var tag in tags)
            {
                switch (tag.Key)
                {
                    case "direction":
                        direction = tag.Value as string;
                        break;
                    case "side":
                        side = tag.Value as string;
                        break;
                    case "resumed":
                        resumed = tag.Value as string;
                        break;
                }
            }

            _measurements.Enqueue(new HandshakeMeasurement(value, direction, side, resumed));
        });
        _listener.Start();
    }

    public IReadOnlyList<HandshakeMeasurement> Measurements => [.. _measurements];

    public void Dispose() => _listener.Dispose();
}
