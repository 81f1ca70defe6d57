using EarlyPipeProxy.Sessions.Configuration;

namespace EarlyPipeProxy.Host.Hosting;

/// <summary>Logs one line per listener once Kestrel has bound them all, and one when a graceful stop begins.</summary>
public sealed partial class ListenerAnnouncer(IReadOnlyList<InboundListener> listeners, IHostApplicationLifetime lifetime, ILogger<ListenerAnnouncer> logger)
    : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        lifetime.ApplicationStarted.Register(() =>
        {
            foreach (var listener in listeners)
            {
                var options = listener.Options;
                LogListening(logger, listener.Name, listener.ListenEndPoint.ToString(), listener.BackendEndPoint.ToString(),
                    options.Backend.ClientIdentity.ToString(), options.PipeConnect.Keyword, string.Join(',', options.PipeConnect.AdvertiseHosts ?? ["*"]));
            }
        });
        lifetime.ApplicationStopping.Register(() => LogStopping(logger));
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(EventId = 300, Level = LogLevel.Information,
        Message = "listening I={Listener} on {Listen}: backend {Backend} (client identity {Identity}), {Keyword} offered to {AdvertiseHosts}")]
    private static partial void LogListening(ILogger logger, string listener, string listen, string backend, string identity, string keyword, string advertiseHosts);

    [LoggerMessage(EventId = 301, Level = LogLevel.Information, Message = "stopping: no new connections; sessions finish their transaction")]
    private static partial void LogStopping(ILogger logger);
}
