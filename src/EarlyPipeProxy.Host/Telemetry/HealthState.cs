using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using EarlyPipeProxy.Sessions.Upstream;

namespace EarlyPipeProxy.Host.Telemetry;

/// <summary>
/// What /healthz, `earlypipe status` and the earlypipe_listener_up / earlypipe_upstream_up gauges report: listeners are
/// up once Kestrel has bound them all and until a stop begins; a backend or fixed upstream is up when its last probe
/// went through everything a session needs of it (for a backend: its identity mechanism too). Until its first probe
/// it counts as down, so a proxy in front of a dead backend is never reported healthy. A listener that could not be
/// opened (its certificate did not load) is down with its reason, and so is the proxy, until a restart.
/// </summary>
public sealed class HealthState(IReadOnlyList<(string Listener, string Direction)> listeners, IReadOnlyList<UpstreamTarget> upstreams)
{
    private const string NotProbedYet = "not probed yet";

    private readonly ConcurrentDictionary<UpstreamTarget, UpstreamHealth> _upstreams = new();
    private readonly ConcurrentDictionary<string, string> _listenerProblems = new(StringComparer.Ordinal);
    private volatile bool _listening;

    public IReadOnlyList<UpstreamTarget> Upstreams => upstreams;

    public bool IsListening => _listening;

    public bool IsHealthy => _listening && _listenerProblems.IsEmpty && upstreams.All(target => _upstreams.TryGetValue(target, out var health) && health.IsUp);

    public void SetListening(bool listening) => _listening = listening;

    /// <summary>Marks a listener down for good with the reason, for /healthz and earlypipe_listener_up.</summary>
    public void SetListenerProblem(string listener, string problem) => _listenerProblems[listener] = problem;

    /// <summary>Why a listener is not open ("down, not opened: ..."), or "up"/"down" as the process listens.</summary>
    public string ListenerState(string listener) =>
        _listenerProblems.TryGetValue(listener, out var problem) ? "down, not opened: " + problem : _listening ? "up" : "down";

    /// <summary>Records a probe's verdict; returns the one before it (null for the first).</summary>
    public UpstreamHealth? Record(UpstreamTarget target, ProbeVerdict verdict, DateTimeOffset checkedAt)
    {
        ArgumentNullException.ThrowIfNull(target);
        UpstreamHealth? previous = null;
        _upstreams.AddOrUpdate(target, _ => new UpstreamHealth(verdict, checkedAt), (_, old) =>
        {
            previous = old;
            return new UpstreamHealth(verdict, checkedAt);
        });
        return previous;
    }

    /// <summary>The last probe's verdict; null before the first.</summary>
    public UpstreamHealth? Get(UpstreamTarget target) => _upstreams.TryGetValue(target, out var health) ? health : null;

    /// <summary>"up (what was seen)", "down: why", or "down: not probed yet".</summary>
    public string StateOf(UpstreamTarget target) => Get(target) is { } health
        ? health.IsUp ? $"up ({health.Verdict.Detail})" : "down: " + health.Verdict.Detail
        : "down: " + NotProbedYet;

    /// <summary>
    /// One line per listener and backend or fixed upstream, for a human reading /healthz: a down one says why in the
    /// backend's own words where it gave any (`backend smtp 127.0.0.1:25: down: XCLIENT refused: 550 5.7.0 …`).
    /// </summary>
    public string Describe() => string.Join('\n',
        listeners.Select(l => $"listener {l.Listener} ({l.Direction}): {ListenerState(l.Listener)}")
            .Concat(upstreams.Select(u => $"{u}: {StateOf(u)}")))
        + "\n";

    public IEnumerable<Measurement<int>> ListenerMeasurements() => listeners.Select(l =>
        new Measurement<int>(_listening && !_listenerProblems.ContainsKey(l.Listener) ? 1 : 0, new("listener", l.Listener), new("direction", l.Direction)));

    public IEnumerable<Measurement<int>> UpstreamMeasurements() => upstreams.Select(u =>
        new Measurement<int>(_upstreams.TryGetValue(u, out var health) && health.IsUp ? 1 : 0, new("listener", u.Listener), new("direction", u.Direction)));
}
