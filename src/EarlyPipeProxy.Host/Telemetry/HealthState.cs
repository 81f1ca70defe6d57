using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace EarlyPipeProxy.Host.Telemetry;

/// <summary>
/// What /healthz and the earlypipe_listener_up / earlypipe_upstream_up gauges report: listeners are up once Kestrel has
/// bound them all and until a stop begins; an upstream is up when its last probe got a banner. Until its first probe
/// an upstream counts as down, so a proxy in front of a dead backend is never reported healthy.
/// </summary>
public sealed class HealthState(IReadOnlyList<(string Listener, string Direction)> listeners, IReadOnlyList<UpstreamTarget> upstreams)
{
    private readonly ConcurrentDictionary<UpstreamTarget, bool> _upstreams = new();
    private volatile bool _listening;

    public IReadOnlyList<UpstreamTarget> Upstreams => upstreams;

    public bool IsHealthy => _listening && upstreams.All(target => _upstreams.TryGetValue(target, out var up) && up);

    public void SetListening(bool listening) => _listening = listening;

    public void SetUpstream(UpstreamTarget target, bool up) => _upstreams[target] = up;

    public bool IsUpstreamUp(UpstreamTarget target) => _upstreams.TryGetValue(target, out var up) && up;

    /// <summary>One line per listener and upstream, for a human reading /healthz.</summary>
    public string Describe() => string.Join('\n',
        listeners.Select(l => $"listener {l.Listener} ({l.Direction}): {(_listening ? "up" : "down")}")
            .Concat(upstreams.Select(u => $"upstream {u.EndPoint} of {u.Listener} ({u.Direction}): {(_upstreams.TryGetValue(u, out var up) && up ? "up" : "down")}")))
        + "\n";

    public IEnumerable<Measurement<int>> ListenerMeasurements() => listeners.Select(l =>
        new Measurement<int>(_listening ? 1 : 0, new("listener", l.Listener), new("direction", l.Direction)));

    public IEnumerable<Measurement<int>> UpstreamMeasurements() => upstreams.Select(u =>
        new Measurement<int>(_upstreams.TryGetValue(u, out var up) && up ? 1 : 0, new("listener", u.Listener), new("direction", u.Direction)));
}
