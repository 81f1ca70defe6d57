using System.Buffers;
using System.Net;

namespace EarlyPipeProxy.Sessions.Backend;

/// <summary>Opens connections to a backend; a seam so session tests can use in-memory pipes.</summary>
public interface IBackendConnector
{
    /// <summary>Connects or throws <see cref="BackendUnavailableException"/> with <see cref="BackendFailure.Unreachable"/>.</summary>
    ValueTask<BackendConnection> ConnectAsync(IPEndPoint endPoint, CancellationToken cancellationToken);

    /// <summary>
    /// Connects from <paramref name="source"/> (null: the kernel's choice) and sends <paramref name="firstFlight"/> at
    /// once, before any await that could let the remote's banner overtake it: an early-pipelining server only counts
    /// input that is there before it writes its banner. With <paramref name="fastOpen"/> the flight rides in the SYN
    /// where the kernel holds a TCP Fast Open cookie for the remote. Connectors that cannot do either connect plainly
    /// and write the flight.
    /// </summary>
    async ValueTask<BackendConnection> ConnectAsync(IPEndPoint endPoint, IPAddress? source, bool fastOpen, ReadOnlyMemory<byte> firstFlight, CancellationToken cancellationToken)
    {
        var connection = await ConnectAsync(endPoint, cancellationToken);
        connection.Output.Write(firstFlight.Span);
        await connection.FlushAsync(cancellationToken);
        return connection;
    }
}
