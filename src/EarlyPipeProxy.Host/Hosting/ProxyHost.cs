using System.Net;
using EarlyPipeProxy.Host.Configuration;
using EarlyPipeProxy.Host.Control;
using EarlyPipeProxy.Host.Logging;
using EarlyPipeProxy.Host.Telemetry;
using EarlyPipeProxy.Sessions.Upstream;
using EarlyPipeProxy.Sessions.Configuration;
using Microsoft.AspNetCore.Connections;

namespace EarlyPipeProxy.Host.Hosting;

/// <summary>Builds the proxy process: configuration sources, logging, and one Kestrel listener per configured inbound and outbound listener.</summary>
public static class ProxyHost
{
    public const string EnvironmentPrefix = "EARLYPIPE__";

    public static WebApplication Build(string configPath, string[] overrides)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        // Every key checked and every value validated before anything is wired: a bad config names all its problems.
        var loaded = ConfigurationLoader.Load(builder.Configuration, configPath, overrides);
        if (!loaded.IsValid)
        {
            throw new ConfigurationProblemsException(loaded.Problems);
        }

        if (!loaded.CanListen)
        {
            // Not one listener could serve: as good as a bad configuration. With one left, the others stay closed and
            // are logged, /healthz says why (ConfigurationReloader).
            throw new ConfigurationProblemsException([.. loaded.ListenerProblems()]);
        }

        var options = loaded.Options;
        var listeners = loaded.Inbound.ToArray();
        var outboundListeners = loaded.Outbound.ToArray();
        builder.Services.AddSingleton(loaded);

        builder.AddProxyLogging(configPath);
        // Under systemd (parent process systemd): Type=notify's READY=1 once listening, STOPPING=1 at a stop, and SIGTERM
        // through SystemdLifetime; elsewhere it does nothing (deploy/systemd/earlypipe.service).
        builder.Services.AddSystemd();

        builder.Logging.AddFilter(HostStartLog.Category, HostStartLog.IsEnabled);

        builder.Services.Configure<HostOptions>(host => host.ShutdownTimeout = options.ShutdownTimeout);
        builder.Services.AddSingleton(services => new GracefulStop(
            options.ShutdownTimeout, services.GetRequiredService<IHostApplicationLifetime>(), services.GetRequiredService<ILogger<GracefulStop>>()));
        builder.Services.AddHostedService(services => services.GetRequiredService<GracefulStop>());
        builder.Services.AddSingleton<IUpstreamConnector, SocketUpstreamConnector>();
        builder.Services.AddSingleton<IReadOnlyList<InboundListener>>(listeners);
        builder.Services.AddSingleton<IReadOnlyList<OutboundListener>>(outboundListeners);
        builder.Services.AddSingleton(new OwnListeners([.. listeners.Select(l => l.ListenEndPoint), .. outboundListeners.Select(l => l.ListenEndPoint)]));
        builder.Services.AddSingleton<SessionConnectionRunner>();
        builder.Services.AddHostedService<ListenerAnnouncer>();
        builder.Services.AddHostedService<ConnectionCacheShutdown>();
        builder.Services.AddConfigurationReloader(configPath);
        builder.Services.AddEhloCache(builder.Configuration, configPath).AddControlServer(builder.Configuration, configPath);
        var metricsEndPoint = builder.Services.AddProxyTelemetry(builder.Configuration, listeners, outboundListeners);
        // Session code never blocks a thread, so socket continuations may run inline on the I/O threads instead of
        // hopping through the thread pool several times per round trip (bench/throughput measures the difference).
        builder.WebHost.UseSockets(sockets => sockets.UnsafePreferInlineScheduling = true);
        // The SMTP listeners on our own lean transport (SmtpListenerTransport); /metrics stays on Kestrel's sockets.
        var smtpListeners = new Dictionary<IPEndPoint, object>();
        foreach (var listener in listeners.Where(l => l.Problem is null))
        {
            smtpListeners[listener.ListenEndPoint] = new InboundListenerFeature(listener);
        }

        foreach (var listener in outboundListeners.Where(l => l.Problem is null))
        {
            smtpListeners[listener.ListenEndPoint] = new OutboundListenerFeature(listener);
        }

        builder.Services.AddSmtpListenerTransport(smtpListeners);
        builder.WebHost.UseTransparentListeners(listeners);
        builder.WebHost.UseFastOpenListeners(listeners);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            if (metricsEndPoint is not null)
            {
                // Plain HTTP/1.1 for Prometheus and health checks; the SMTP listeners below never see HTTP middleware.
                kestrel.Listen(metricsEndPoint);
            }

            // A listener whose certificate did not load is not opened; the others are (ConfigurationReloader says so).
            foreach (var listener in listeners.Where(l => l.Problem is null))
            {
                kestrel.Listen(listener.ListenEndPoint, listen => listen.UseConnectionHandler<InboundConnectionHandler>());
            }

            foreach (var listener in outboundListeners.Where(l => l.Problem is null))
            {
                kestrel.Listen(listener.ListenEndPoint, listen => listen.UseConnectionHandler<OutboundConnectionHandler>());
            }
        });

        var app = builder.Build();
        if (metricsEndPoint is not null)
        {
            app.MapProxyTelemetry(metricsEndPoint);
        }

        return app;
    }
}
