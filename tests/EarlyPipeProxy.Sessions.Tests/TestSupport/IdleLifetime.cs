using Microsoft.Extensions.Hosting;

namespace EarlyPipeProxy.Sessions.Tests.TestSupport;

/// <summary>A host lifetime that never starts or stops: for host pieces (GracefulStop) whose tokens a test drives itself.</summary>
public sealed class IdleLifetime : IHostApplicationLifetime
{
    public CancellationToken ApplicationStarted => CancellationToken.None;

    public CancellationToken ApplicationStopping => CancellationToken.None;

    public CancellationToken ApplicationStopped => CancellationToken.None;

    public void StopApplication()
    {
    }
}
