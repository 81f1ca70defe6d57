using System.Buffers;
using System.Net;

namespace EarlyPipeProxy.Sessions.Upstream;

/// <summary>Opens connections to an upstream server; a seam so session tests can use in-memory pipes.</summary>
public interface IUpstreamConnector
{
    /// <summary>Connects or throws <see cref="UpstreamUnavailableException"/> with <see cref="UpstreamFailure.Unreachable"/>.</summary>
    ValueTask<UpstreamConnection> ConnectAsync(IPEndPoint endPoint, CancellationToken cancellationToken);

    /// <summary>
    /// Connects from <paramref name="source"/> (null: the kernel's choice) and sends <paramref name="firstFlight"/> at
    /// once, before any await that could let the remote's banner overtake it: an early-pipelining server only counts
    /// input that is there before it writes its banner. With <paramref name="fastOpen"/> the flight rides in the SYN
    /// where the kernel holds a TCP Fast Open cookie for the remote. Connectors that cannot do either connect plainly
    /// and write the flight.
    /// </summary>
    async ValueTask<UpstreamConnection> ConnectAsync(IPEndPoint endPoint, IPAddress? source, bool fastOpen, ReadOnlyMemory<byte> firstFlight, CancellationToken cancellationToken)
    {
        var connection = await ConnectAsync(endPoint, cancellationToken);
        if (!firstFlight.IsEmpty)
        {
            connection.Output.Write(firstFlight.Span);
            await connection.FlushAsync(cancellationToken);
        }

        return connection;
    }

    /// <summary>
    /// Connects from <paramref name="source"/>, an address that need not be this host's: the client's own, for
    /// Backend:ClientIdentity Transparent (IP_TRANSPARENT; the backend's replies to it must be routed back through this
    /// host). Null: the kernel's choice of address, with the option still set, so that a probe finds out whether the
    /// kernel allows it. Throws <see cref="UpstreamUnavailableException"/> with <see cref="UpstreamFailure.Unreachable"/>,
    /// also where the option is refused; connectors without sockets cannot do it at all.
    /// </summary>
    ValueTask<UpstreamConnection> ConnectTransparentAsync(IPEndPoint endPoint, IPEndPoint? source, CancellationToken cancellationToken) =>
        throw new UpstreamUnavailableException(UpstreamFailure.Unreachable, $"cannot connect to {endPoint} from the client's address: this connector has no sockets");
}
