using System.Net;

namespace EarlyPipeProxy.Sessions.Backend;

/// <summary>Opens connections to a backend; a seam so session tests can use in-memory pipes.</summary>
public interface IBackendConnector
{
    /// <summary>Connects or throws <see cref="BackendUnavailableException"/> with <see cref="BackendFailure.Unreachable"/>.</summary>
    ValueTask<BackendConnection> ConnectAsync(IPEndPoint endPoint, CancellationToken cancellationToken);
}
