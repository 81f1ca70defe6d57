using System.Diagnostics.Metrics;
using System.Net;
using EarlyPipeProxy.Sessions.Configuration;
using EarlyPipeProxy.Sessions.Telemetry;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Prometheus;

namespace EarlyPipeProxy.Host.Telemetry;

/// <summary>
/// The instruments, their Prometheus exposition, health probing, and the HTTP endpoint (/metrics, /healthz) on its own
/// address, in the same process and Kestrel as the SMTP listeners.
/// </summary>
public static class TelemetryRegistration
{
    /// <summary>Registers the services; returns the HTTP endpoint to listen on, or null when none is configured.</summary>
    public static IPEndPoint? AddProxyTelemetry(this IServiceCollection services, IConfiguration configuration,
        IReadOnlyList<InboundListener> inbound, IReadOnlyList<OutboundListener> outbound)
    {
        var options = configuration.GetSection(MetricsOptions.SectionName).Get<MetricsOptions>() ?? new MetricsOptions();
        if (options.ProbeInterval <= TimeSpan.Zero || options.ProbeTimeout <= TimeSpan.Zero)
        {
            throw new InvalidOperationException("Metrics:ProbeInterval and Metrics:ProbeTimeout must be positive.");
        }

        services.AddSingleton(provider => new ProxyMetrics(provider.GetService<IMeterFactory>()));
        // A registry of our own: prometheus-net's default one would also publish every .NET meter under its own names.
        services.AddSingleton(_ => new PrometheusMeterBridge(Metrics.NewCustomRegistry()));
        services.AddSingleton(new HealthState(
            [.. inbound.Select(l => (l.Name, Direction.Inbound)), .. outbound.Select(l => (l.Name, Direction.Outbound))],
            [.. inbound.Select(UpstreamTarget.For), .. outbound.Select(UpstreamTarget.For).OfType<UpstreamTarget>()]));
        services.AddSingleton(options);
        services.TryAddSingleton(TimeProvider.System);
        services.AddHostedService<TelemetryStartup>();
        services.AddHostedService<UpstreamProber>();
        return string.IsNullOrWhiteSpace(options.Listen) ? null : EndPointParser.Parse(options.Listen, "Metrics:Listen");
    }

    /// <summary>
    /// Serves /metrics and /healthz, on the metrics port only. The port is the one the request came in on, not its Host
    /// header: load balancers' health checks (HAProxy's `option httpchk` is HTTP/1.0) often send none.
    /// </summary>
    public static void MapProxyTelemetry(this WebApplication app, IPEndPoint endPoint)
    {
        var port = endPoint.Port;
        app.Use((context, next) =>
        {
            if (context.Connection.LocalPort != port)
            {
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                return Task.CompletedTask;
            }

            return next(context);
        });
        var bridge = app.Services.GetRequiredService<PrometheusMeterBridge>();
        app.MapMetrics("/metrics", bridge.Registry);
        app.MapGet("/healthz", (HealthState health) => health.IsHealthy
            ? Results.Text(health.Describe(), statusCode: StatusCodes.Status200OK)
            : Results.Text(health.Describe(), statusCode: StatusCodes.Status503ServiceUnavailable));
    }
}
