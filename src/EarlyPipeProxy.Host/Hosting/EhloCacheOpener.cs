using EarlyPipeProxy.Sessions.EhloCache;

namespace EarlyPipeProxy.Host.Hosting;

/// <summary>
/// Opens the EHLO cache when the host starts rather than at its first use: the database lock is taken, and a damaged
/// file reported, at start-up, so a second process pointed at the same file finds it busy at once. Closing is left
/// to the container, which does it after the sessions that may still learn have ended.
/// </summary>
public sealed class EhloCacheOpener(EhloCache cache) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        // Resolving the constructor argument opened it; nothing else to do.
        GC.KeepAlive(cache);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
