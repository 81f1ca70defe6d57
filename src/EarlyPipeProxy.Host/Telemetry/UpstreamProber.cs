using EarlyPipeProxy.Sessions.Logging;
using EarlyPipeProxy.Sessions.Outbound;
using EarlyPipeProxy.Sessions.Upstream;

namespace EarlyPipeProxy.Host.Telemetry;

/// <summary>
/// Probes every backend and fixed upstream once per <see cref="MetricsOptions.ProbeInterval"/> with the same polite
/// session as `earlypipe check` (banner, EHLO, QUIT), and marks the lifetime of the listeners, for /healthz.
/// </summary>
public sealed partial class UpstreamProber(
    HealthState health, MetricsOptions options, IUpstreamConnector connector, IHostApplicationLifetime lifetime, ILogger<UpstreamProber> logger)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        lifetime.ApplicationStarted.Register(() => health.SetListening(true));
        lifetime.ApplicationStopping.Register(() => health.SetListening(false));
        using var timer = new PeriodicTimer(options.ProbeInterval);
        do
        {
            await Task.WhenAll(health.Upstreams.Select(target => ProbeAsync(target, stoppingToken)));
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }

    private async Task ProbeAsync(UpstreamTarget target, CancellationToken stoppingToken)
    {
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        bounded.CancelAfter(options.ProbeTimeout);
        bool up;
        try
        {
            var result = await ServerProbe.ProbeAsync(connector, target.EndPoint, "earlypipe.healthcheck", bounded.Token);
            up = result.BannerCode is >= 200 and < 300;
        }
        catch (Exception) when (stoppingToken.IsCancellationRequested)
        {
            // The host is stopping (the connector reports a cancelled connect as UpstreamUnavailableException): a probe
            // cut short says nothing about the upstream, and must not fail the service while the host stops.
            return;
        }
        catch (Exception ex) when (ex is UpstreamUnavailableException or IOException or System.Net.Sockets.SocketException
            or OperationCanceledException && !stoppingToken.IsCancellationRequested)
        {
            up = false;
        }

        var wasUp = health.Upstreams.Count > 0 && health.IsUpstreamUp(target);
        health.SetUpstream(target, up);
        if (up != wasUp)
        {
            LogUpstreamChanged(logger, target.EndPoint.ToString(), target.Listener, up ? "up" : "down");
        }
    }

    [LoggerMessage(EventId = LogEventIds.UpstreamHealthChanged, Level = LogLevel.Information, Message = "health: upstream {Upstream} of I={Listener} is {State}")]
    private static partial void LogUpstreamChanged(ILogger logger, string upstream, string listener, string state);
}
