using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace EarlyPipeProxy.Host.Telemetry;

/// <summary>
/// What /healthz and the earlypipe_listener_up / earlypipe_upstream_up gauges report: listeners are up once Kestrel has
/// bound them all and until a stop begins; an upstream is up when its last probe got a banner. Until its first probe
/// an upstream counts as down, so a proxy in front of a dead backend is never reported healthy. A listener that could
/// not be opened (its certificate did not load) is down with its reason, and so is the proxy, until a restart.
/// </summary>
public sealed class HealthState(IReadOnlyList<(string Listener, string Direction)> listeners, IReadOnlyList<UpstreamTarget> upstreams)
{
    private readonly ConcurrentDictionary<UpstreamTarget, bool> _upstreams = new();
    private readonly ConcurrentDictionary<string, string> _listenerProblems = new(StringComparer.Ordinal);
    private volatile bool _listening;

    public IReadOnlyList<UpstreamTarget> Upstreams => upstreams;

    public bool IsHealthy => _listening && _listenerProblems.IsEmpty && upstreams.All(target => _upstreams.TryGetValue(target, out var up) && up);

    public void SetListening(bool listening) => _listening = listening;

    /// <summary>Marks a listener down for good with the reason, for /healthz and earlypipe_listener_up.</summary>
    public void SetListenerProblem(string listener, string problem) => _listenerProblems[listener] = problem;

    public void SetUpstream(UpstreamTarget target, bool up) => _upstreams[target] = up;

    public bool IsUpstreamUp(UpstreamTarget target) => _upstreams.TryGetValue(target, out var up) && up;

    /// <summary>One line per listener and upstream, for a human reading /healthz.</summary>
    public string Describe() => string.Join('\n',
        listeners.Select(l => $"listener {l.Listener} ({l.Direction}): {ListenerState(l.Listener)}")
            .Concat(upstreams.Select(u => $"upstream {u.EndPoint} of {u.Listener} ({u.Direction}): {(_upstreams.TryGetValue(u, out var up) && up ? "up" : "down")}")))
        + "\n";

    public IEnumerable<Measurement<int>> ListenerMeasurements() => listeners.Select(l =>
        new Measurement<int>(_listening && !_listenerProblems.ContainsKey(l.Listener) ? 1 : 0, new("listener", l.Listener), new("direction", l.Direction)));

    private string ListenerState(string listener) =>
        _listenerProblems.TryGetValue(listener, out var problem) ? "down, not opened: " + problem : _listening ? "up" : "down";

    public IEnumerable<Measurement<int>> UpstreamMeasurements() => upstreams.Select(u =>
        new Measurement<int>(_upstreams.TryGetValue(u, out var up) && up ? 1 : 0, new("listener", u.Listener), new("direction", u.Direction)));
}
