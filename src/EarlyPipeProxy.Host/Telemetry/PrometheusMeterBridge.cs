using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using EarlyPipeProxy.Sessions.Telemetry;
using Prometheus;

namespace EarlyPipeProxy.Host.Telemetry;

/// <summary>
/// Publishes the proxy's System.Diagnostics.Metrics instruments in a prometheus-net registry under fixed Prometheus
/// names: "earlypipe.sessions" (counter) becomes earlypipe_sessions_total, "earlypipe.upstream.reply" (histogram in
/// seconds) earlypipe_upstream_reply_seconds, up-down counters and observable gauges become gauges. prometheus-net's
/// own generic adapter is not used so that the names, which the dashboard and alerts depend on, are ours to keep.
/// </summary>
public sealed class PrometheusMeterBridge : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<Instrument, Collector?> _collectors = new();

    // The collector child of each series an instrument that is not observable has measured: a session makes about
    // twenty measurements, and each took two label arrays and prometheus-net's label lookup before.
    private readonly ConcurrentDictionary<SeriesKey, ChildBase?> _series = new();
    private readonly HashSet<(Instrument Instrument, string Labels)> _observed = [];
    private readonly Lock _observing = new();
    private readonly MetricFactory _factory;

    public PrometheusMeterBridge(CollectorRegistry registry)
    {
        ArgumentNullException.ThrowIfNull(registry);
        Registry = registry;
        _factory = Metrics.WithCustomRegistry(registry);
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == ProxyMetrics.MeterName)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.SetMeasurementEventCallback<int>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.Start();

        // Observable instruments report when asked: right before every scrape.
        registry.AddBeforeCollectCallback(ObserveAll);
    }

    public CollectorRegistry Registry { get; }

    /// <summary>The Prometheus name of an instrument.</summary>
    public static string PrometheusName(Instrument instrument)
    {
        ArgumentNullException.ThrowIfNull(instrument);
        var name = instrument.Name.Replace('.', '_');
        var isHistogram = instrument.GetType().IsGenericType && instrument.GetType().GetGenericTypeDefinition() == typeof(Histogram<>);
        if (isHistogram && instrument.Unit == "s" && !name.EndsWith("_seconds", StringComparison.Ordinal))
        {
            name += "_seconds";
        }

        return IsCounter(instrument) ? name + "_total" : name;
    }

    public void Dispose() => _listener.Dispose();

    private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (!IsObservable(instrument) && SeriesKey.TryCreate(instrument, tags, out var key))
        {
            if (!_series.TryGetValue(key, out var child))
            {
                child = _series.GetOrAdd(key, Child(instrument, tags));
            }

            switch (child)
            {
                case Counter.Child counter:
                    counter.Inc(value);
                    return;
                case Gauge.Child gauge:
                    gauge.Inc(value);
                    return;
                case Histogram.Child histogram:
                    histogram.Observe(value);
                    return;
                default:
                    return;
            }
        }

        var labelNames = new string[tags.Length];
        var labelValues = new string[tags.Length];
        for (var i = 0; i < tags.Length; i++)
        {
            labelNames[i] = tags[i].Key;
            labelValues[i] = tags[i].Value?.ToString() ?? string.Empty;
        }

        // Every call site of an instrument uses the same tag keys in the same order, so the first measurement's keys
        // name the labels for good.
        var collector = _collectors.GetOrAdd(instrument, _ => Create(instrument, labelNames));
        switch (collector)
        {
            case Counter counter when IsObservable(instrument):
                counter.WithLabels(labelValues).IncTo(value);
                break;
            case Counter counter:
                counter.WithLabels(labelValues).Inc(value);
                break;
            case Gauge gauge when IsObservable(instrument):
                gauge.WithLabels(labelValues).Set(value);
                _observed.Add((instrument, string.Join('\0', labelValues)));
                break;
            case Gauge gauge:
                gauge.WithLabels(labelValues).Inc(value);
                break;
            case Histogram histogram:
                histogram.WithLabels(labelValues).Observe(value);
                break;
        }
    }

    /// <summary>The collector child of a series, made (with its collector, the first time) the way <see cref="Record"/>'s slow path does.</summary>
    private ChildBase? Child(Instrument instrument, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var labelNames = new string[tags.Length];
        var labelValues = new string[tags.Length];
        for (var i = 0; i < tags.Length; i++)
        {
            labelNames[i] = tags[i].Key;
            labelValues[i] = tags[i].Value?.ToString() ?? string.Empty;
        }

        return _collectors.GetOrAdd(instrument, _ => Create(instrument, labelNames)) switch
        {
            Counter counter => counter.WithLabels(labelValues),
            Gauge gauge => gauge.WithLabels(labelValues),
            Histogram histogram => histogram.WithLabels(labelValues),
            _ => null,
        };
    }

    /// <summary>
    /// Asks the observable instruments for their values, then drops the series of an observable gauge it did not report
    /// this time: such a gauge reports its whole current set (a certificate replaced by a reload has a new subject),
    /// and a series it no longer reports would otherwise stay at its last value for good.
    /// </summary>
    private void ObserveAll()
    {
        lock (_observing)
        {
            _observed.Clear();
            _listener.RecordObservableInstruments();
            foreach (var (instrument, collector) in _collectors)
            {
                if (collector is Gauge gauge && IsObservable(instrument))
                {
                    foreach (var labels in gauge.GetAllLabelValues().ToArray())
                    {
                        if (!_observed.Contains((instrument, string.Join('\0', labels))))
                        {
                            gauge.RemoveLabelled(labels);
                        }
                    }
                }
            }
        }
    }

    private Collector? Create(Instrument instrument, string[] labelNames)
    {
        var name = PrometheusName(instrument);
        var help = instrument.Description ?? instrument.Name;
        var type = instrument.GetType().GetGenericTypeDefinition();
        if (IsCounter(instrument))
        {
            return _factory.CreateCounter(name, help, labelNames);
        }

        if (type == typeof(Histogram<>))
        {
            var buckets = (instrument as Histogram<double>)?.Advice?.HistogramBucketBoundaries?.ToArray()
                ?? Histogram.ExponentialBuckets(0.001, 2, 16);
            return _factory.CreateHistogram(name, help, labelNames, new HistogramConfiguration { Buckets = buckets });
        }

        return type == typeof(UpDownCounter<>) || type == typeof(ObservableGauge<>) || type == typeof(ObservableUpDownCounter<>)
            ? _factory.CreateGauge(name, help, labelNames)
            : null;
    }

    private static bool IsCounter(Instrument instrument)
    {
        var type = instrument.GetType();
        return type.IsGenericType && type.GetGenericTypeDefinition() is var definition
            && (definition == typeof(Counter<>) || definition == typeof(ObservableCounter<>));
    }

    private static bool IsObservable(Instrument instrument) => instrument.IsObservable;
}
