using EarlyPipeProxy.Sessions.Inbound;
using EarlyPipeProxy.Sessions.Logging;
using EarlyPipeProxy.Sessions.Outbound;
using EarlyPipeProxy.Sessions.Upstream;

namespace EarlyPipeProxy.Host.Telemetry;

/// <summary>
/// Probes every backend and fixed upstream at start and then once per <see cref="MetricsOptions.ProbeInterval"/>, doing
/// what the listener's sessions do (for a backend: its PROXY header or XCLIENT and Backend:Tls, <see cref="BackendProbe"/>;
/// for a fixed upstream: banner and EHLO, <see cref="FixedUpstreamProbe"/>), and marks the lifetime of the listeners,
/// for /healthz and `earlypipe status`. The log hears of a backend once per change: the first verdict (a warning
/// naming the listener when it is down: the proxy starts anyway), then each turn from up to down or back, or to
/// another reason.
/// </summary>
public sealed partial class UpstreamProber(
    HealthState health, MetricsOptions options, IUpstreamConnector connector, TimeProvider time, IHostApplicationLifetime lifetime, ILogger<UpstreamProber> logger)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        lifetime.ApplicationStarted.Register(() => health.SetListening(true));
        lifetime.ApplicationStopping.Register(() => health.SetListening(false));
        using var timer = new PeriodicTimer(options.ProbeInterval);
        try
        {
            do
            {
                await Task.WhenAll(health.Upstreams.Select(target => ProbeAsync(target, stoppingToken)));
            }
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping.
        }
    }

    private async Task ProbeAsync(UpstreamTarget target, CancellationToken stoppingToken)
    {
        ProbeVerdict verdict;
        try
        {
            verdict = target switch
            {
                { Inbound: { } inbound } => await BackendProbe.ProbeAsync(connector, inbound, options.ProbeTimeout, stoppingToken),
                { Outbound: { } outbound } => await FixedUpstreamProbe.ProbeAsync(connector, outbound, options.ProbeTimeout, stoppingToken),
                _ => ProbeVerdict.Down("no probe for this target"),
            };
        }
        catch (Exception) when (stoppingToken.IsCancellationRequested)
        {
            // The host is stopping (the connector reports a cancelled connect as UpstreamUnavailableException): a probe
            // cut short says nothing about the upstream, and must not fail the service while the host stops.
            return;
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
        {
            // The probes turn every failure of the server into a verdict; anything else is the probe's own fault, and
            // must neither stop the host (an unhandled exception in a BackgroundService does) nor pass for health.
            verdict = ProbeVerdict.Down($"probe failed: {ex.GetType().Name}: {ex.Message}");
        }

        var previous = health.Record(target, verdict, time.GetUtcNow());
        if (previous is null)
        {
            if (verdict.IsUp)
            {
                LogUp(logger, target.ToString(), verdict.Detail);
            }
            else
            {
                LogDownAtStart(logger, target.Listener, target.Role, target.EndPoint.ToString(), verdict.Detail);
            }
        }
        else if (verdict.IsUp && !previous.IsUp)
        {
            LogUp(logger, target.ToString(), verdict.Detail);
        }
        else if (!verdict.IsUp && (previous.IsUp || previous.Verdict.Detail != verdict.Detail))
        {
            LogDown(logger, target.ToString(), verdict.Detail);
        }
    }

    [LoggerMessage(EventId = LogEventIds.UpstreamHealthChanged, Level = LogLevel.Information, Message = "health: {Upstream} is up: {Detail}")]
    private static partial void LogUp(ILogger logger, string upstream, string detail);

    [LoggerMessage(EventId = LogEventIds.UpstreamDown, Level = LogLevel.Warning, Message = "health: {Upstream} is down: {Reason}")]
    private static partial void LogDown(ILogger logger, string upstream, string reason);

    [LoggerMessage(EventId = LogEventIds.UpstreamDownAtStart, Level = LogLevel.Warning,
        Message = "start-up: I={Listener} cannot work: its {Role} {Upstream} fails the probe: {Reason}; listening anyway, its clients get 421 until the {Role} is fixed")]
    private static partial void LogDownAtStart(ILogger logger, string listener, string role, string upstream, string reason);
}
