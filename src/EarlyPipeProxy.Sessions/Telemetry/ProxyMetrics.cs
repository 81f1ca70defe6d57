using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace EarlyPipeProxy.Sessions.Telemetry;

/// <summary>
/// The proxy's instruments (System.Diagnostics.Metrics, meter <see cref="MeterName"/>), so that the exporter stays
/// swappable. Names are Prometheus names with dots: the host's exporter turns "earlypipe.sessions" into
/// earlypipe_sessions_total. Labels are few and bounded: listener, direction, and small fixed value sets.
/// </summary>
public sealed class ProxyMetrics : IDisposable
{
    public const string MeterName = "EarlyPipeProxy";

    private readonly Meter _meter;
    private readonly Counter<long> _sessions;
    private readonly Counter<long> _messages;
    private readonly Counter<long> _roundTripsSaved;
    private readonly Counter<double> _savedSeconds;
    private readonly Counter<long> _earlyInput;
    private readonly Counter<long> _replies;
    private readonly Counter<long> _bytes;
    private readonly Counter<long> _tlsHandshakes;
    private readonly UpDownCounter<long> _activeConnections;
    private readonly Counter<long> _connectionsRefused;
    private readonly Counter<long> _proxyHeaders;
    private readonly Histogram<double> _upstreamConnect;
    private readonly Histogram<double> _upstreamReply;
    private readonly Counter<long> _connectionCacheLookups;
    private readonly Counter<long> _connectionCacheDrops;
    private readonly UpDownCounter<long> _connectionCacheParked;

    public ProxyMetrics(IMeterFactory? meterFactory = null)
    {
        _meter = meterFactory?.Create(MeterName) ?? new Meter(MeterName);
        _sessions = _meter.CreateCounter<long>("earlypipe.sessions", description: "SMTP sessions that ended, by early-pipelining use, TLS and outcome.");
        _messages = _meter.CreateCounter<long>("earlypipe.messages", description: "Messages whose end of data the backend or remote answered, by outcome.");
        _roundTripsSaved = _meter.CreateCounter<long>("earlypipe.round_trips_saved",
            description: "Round trips a lockstep exchange of the same commands would have taken, minus the round trips waited for.");
        _savedSeconds = _meter.CreateCounter<double>("earlypipe.saved_seconds", unit: "s",
            description: "Round trips saved times the session's measured round-trip time (TCP_INFO).");
        _earlyInput = _meter.CreateCounter<long>("earlypipe.early_input", description: "Inbound sessions whose client sent before the banner, by decision.");
        _replies = _meter.CreateCounter<long>("earlypipe.replies", description: "Replies written to clients, by class.");
        _bytes = _meter.CreateCounter<long>("earlypipe.bytes", unit: "By", description: "Octets from and to clients.");
        _tlsHandshakes = _meter.CreateCounter<long>("earlypipe.tls_handshakes", description: "TLS handshakes completed, by side and resumption.");
        _activeConnections = _meter.CreateUpDownCounter<long>("earlypipe.active_connections", description: "Client connections open now.");
        _connectionsRefused = _meter.CreateCounter<long>("earlypipe.connections_refused",
            description: "Connections refused with 421 before a session began, by limit (ConnectionRefusal).");
        _proxyHeaders = _meter.CreateCounter<long>("earlypipe.proxy_headers",
            description: "Connections from a listed load balancer, by what their PROXY header did (ProxyHeaderOutcome).");
        _upstreamConnect = _meter.CreateHistogram<double>("earlypipe.upstream.connect", unit: "s",
            description: "Time to connect to the backend (inbound) or remote (outbound).",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LatencyBuckets });
        _upstreamReply = _meter.CreateHistogram<double>("earlypipe.upstream.reply", unit: "s",
            description: "Time the backend or remote took to answer, from the flush of a command to its reply.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LatencyBuckets });
        _connectionCacheLookups = _meter.CreateCounter<long>("earlypipe.connection_cache.lookups",
            description: "Outbound sessions that looked for a warm remote connection, by result: hit (reused), miss (none parked), stale (failed at reuse; a fresh connection took over).");
        _connectionCacheDrops = _meter.CreateCounter<long>("earlypipe.connection_cache.drops",
            description: "Parked remote connections given up without being reused, by reason.");
        _connectionCacheParked = _meter.CreateUpDownCounter<long>("earlypipe.connection_cache.parked", description: "Remote connections parked now, waiting for a session.");
    }

    // From loopback (sub-millisecond) to intercontinental round trips and slow end-of-data answers.
    private static readonly IReadOnlyList<double> LatencyBuckets =
        [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

    public Meter Meter => _meter;

    public void SessionEnded(in SessionSummary summary)
    {
        var tags = new TagList
        {
            { "listener", summary.Listener },
            { "direction", summary.Direction },
            { "early", summary.Early },
            { "tls", summary.Tls },
            { "outcome", summary.Outcome },
        };
        _sessions.Add(1, tags);

        var common = new TagList { { "listener", summary.Listener }, { "direction", summary.Direction } };
        if (summary.MessagesAccepted > 0)
        {
            _messages.Add(summary.MessagesAccepted, Append(common, "outcome", "accepted"));
        }

        if (summary.MessagesRejected > 0)
        {
            _messages.Add(summary.MessagesRejected, Append(common, "outcome", "rejected"));
        }

        var saved = summary.RoundTripsSaved;
        if (saved > 0)
        {
            _roundTripsSaved.Add(saved, common);
            if (summary.RoundTripTime is { } rtt && rtt > TimeSpan.Zero)
            {
                _savedSeconds.Add(saved * rtt.TotalSeconds, common);
            }
        }

        _bytes.Add(summary.BytesFromClient, Append(common, "flow", "from_client"));
        _bytes.Add(summary.BytesToClient, Append(common, "flow", "to_client"));
    }

    public void EarlyInput(string listener, bool accepted) =>
        _earlyInput.Add(1, new TagList { { "listener", listener }, { "decision", accepted ? "accepted" : "refused" } });

    public void Reply(string listener, string direction, int code) =>
        _replies.Add(1, new TagList { { "listener", listener }, { "direction", direction }, { "class", ReplyClass(code) } });

    public void TlsHandshake(string listener, string direction, string side, bool resumed) =>
        _tlsHandshakes.Add(1, new TagList
        {
            { "listener", listener }, { "direction", direction }, { "side", side }, { "resumed", resumed ? "true" : "false" },
        });

    public void ConnectionOpened(string listener, string direction) =>
        _activeConnections.Add(1, new TagList { { "listener", listener }, { "direction", direction } });

    public void ConnectionClosed(string listener, string direction) =>
        _activeConnections.Add(-1, new TagList { { "listener", listener }, { "direction", direction } });

    /// <param name="reason">One of <see cref="ConnectionRefusal"/>'s labels.</param>
    public void ConnectionRefused(string listener, string direction, string reason) =>
        _connectionsRefused.Add(1, new TagList { { "listener", listener }, { "direction", direction }, { "reason", reason } });

    /// <param name="result">One of <see cref="Inbound.ProxyHeaderOutcome"/>'s labels.</param>
    public void ProxyHeader(string listener, string result) =>
        _proxyHeaders.Add(1, new TagList { { "listener", listener }, { "result", result } });

    /// <summary>A session looked for a warm connection: "hit", "miss" or "stale".</summary>
    public void ConnectionCacheLookup(string listener, string result) =>
        _connectionCacheLookups.Add(1, new TagList { { "listener", listener }, { "result", result } });

    /// <summary>A parked connection was given up (closed while parked, its idle time over, the proxy stopping...).</summary>
    public void ConnectionCacheDropped(string listener, string reason) =>
        _connectionCacheDrops.Add(1, new TagList { { "listener", listener }, { "reason", reason } });

    /// <summary>A connection was parked (+1) or left the cache (-1).</summary>
    public void ConnectionCacheParked(string listener, int change) =>
        _connectionCacheParked.Add(change, new TagList { { "listener", listener } });

    public void UpstreamConnected(string listener, string direction, TimeSpan elapsed) =>
        _upstreamConnect.Record(elapsed.TotalSeconds, new TagList { { "listener", listener }, { "direction", direction } });

    public void UpstreamReplied(string listener, string direction, TimeSpan elapsed) =>
        _upstreamReply.Record(elapsed.TotalSeconds, new TagList { { "listener", listener }, { "direction", direction } });

    /// <summary>Publishes the EHLO cache's own running totals (lookups, changes, flushes by reason) and its size.</summary>
    public void ObserveEhloCache(EhloCache.EhloCache cache)
    {
        ArgumentNullException.ThrowIfNull(cache);
        var counters = cache.Counters;
        _meter.CreateObservableCounter("earlypipe.ehlo_cache.lookups", () => new[]
        {
            new Measurement<long>(counters.Hits, new KeyValuePair<string, object?>("result", "hit")),
            new Measurement<long>(counters.Misses, new KeyValuePair<string, object?>("result", "miss")),
        }, description: "EHLO cache lookups by an outbound session, by result.");
        _meter.CreateObservableCounter("earlypipe.ehlo_cache.changes", () => new[]
        {
            new Measurement<long>(counters.Stored, new KeyValuePair<string, object?>("change", "stored")),
            new Measurement<long>(counters.Rewrites, new KeyValuePair<string, object?>("change", "rewritten")),
            new Measurement<long>(counters.Confirmations, new KeyValuePair<string, object?>("change", "confirmed")),
        }, description: "EHLO replies stored, rewritten (capabilities changed) or confirmed unchanged.");
        _meter.CreateObservableCounter("earlypipe.ehlo_cache.flushes", () => Enum.GetValues<EhloCache.EhloCacheFlushReason>()
            .Select(reason => new Measurement<long>(counters.Flushes(reason), new KeyValuePair<string, object?>("reason", FlushReasonLabel(reason)))),
            description: "EHLO cache entries flushed, by reason.");
        _meter.CreateObservableGauge("earlypipe.ehlo_cache.entries", () => (long)cache.Count, description: "EHLO cache entries held.");
    }

    /// <summary>Publishes health: 1 per listener that is up, and per upstream whose last probe passed.</summary>
    public void ObserveHealth(Func<IEnumerable<Measurement<int>>> listeners, Func<IEnumerable<Measurement<int>>> upstreams)
    {
        _meter.CreateObservableGauge("earlypipe.listener_up", listeners, description: "1 while the listener accepts connections.");
        _meter.CreateObservableGauge("earlypipe.upstream_up", upstreams, description: "1 when the backend or remote answered its last probe.");
    }

    /// <summary>
    /// Publishes each listener certificate's expiry (Unix seconds, labels listener and subject), as the certificates are
    /// at the scrape: a reload that replaces one replaces its series.
    /// </summary>
    public void ObserveCertificates(Func<IEnumerable<Measurement<double>>> expiries) =>
        _meter.CreateObservableGauge("earlypipe.certificate_expiry_timestamp_seconds", expiries, unit: "s",
            description: "When the listener's certificate expires, in seconds since the Unix epoch (alert on it minus time()).");

    public void Dispose() => _meter.Dispose();

    /// <summary>keyword_withdrawn, bad_banner, …: the reason's name in Prometheus label style.</summary>
    public static string FlushReasonLabel(EhloCache.EhloCacheFlushReason reason) => System.Text.Json.JsonNamingPolicy.SnakeCaseLower.ConvertName(reason.ToString());

    private static string ReplyClass(int code) => code switch
    {
        >= 200 and < 300 => "2xx",
        >= 300 and < 400 => "3xx",
        >= 400 and < 500 => "4xx",
        _ => "5xx",
    };

    private static TagList Append(TagList tags, string key, string value)
    {
        var copy = tags;
        copy.Add(key, value);
        return copy;
    }
}
