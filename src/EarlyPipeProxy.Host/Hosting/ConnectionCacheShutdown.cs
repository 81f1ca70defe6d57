using EarlyPipeProxy.Sessions.Configuration;

namespace EarlyPipeProxy.Host.Hosting;

/// <summary>
/// At the proxy's stop, every outbound listener's parked remote connections (ConnectionCache) get QUIT and are closed,
/// and none is parked any more: a remote sees a polite end, not a connection that vanishes with the process.
/// </summary>
public sealed class ConnectionCacheShutdown(IReadOnlyList<OutboundListener> listeners) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        foreach (var listener in listeners)
        {
            await listener.WarmConnections.CloseAsync();
        }
    }
}
