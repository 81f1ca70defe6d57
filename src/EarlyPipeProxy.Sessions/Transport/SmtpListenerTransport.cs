using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;

namespace EarlyPipeProxy.Sessions.Transport;

/// <summary>
/// Kestrel's transport for the SMTP listeners, and only for them (the selector claims their addresses; /metrics stays on
/// Kestrel's socket transport): each accepted connection is a lean <see cref="SmtpSocketConnection"/>, carrying its
/// listener's feature, and still goes through Kestrel's connection handling (connection handlers, graceful stop,
/// shutdown timeout).
/// </summary>
/// <param name="options">How the listening sockets are made.</param>
/// <param name="listenerFeatures">Each SMTP listener's address and the feature its connections carry.</param>
public sealed class SmtpListenerTransport(SmtpListenerTransportOptions options, IReadOnlyDictionary<IPEndPoint, object> listenerFeatures)
    : IConnectionListenerFactory, IConnectionListenerFactorySelector
{
    public bool CanBind(EndPoint endpoint) => endpoint is IPEndPoint address && listenerFeatures.ContainsKey(address);

    public ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        if (endpoint is not IPEndPoint address || !listenerFeatures.TryGetValue(address, out var feature))
        {
            throw new InvalidOperationException($"{endpoint} is not an SMTP listener's address");
        }

        Socket socket;
        try
        {
            socket = options.CreateBoundListenSocket(endpoint);
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            // What Kestrel's transport throws, so that the start failure reads as it did ("address already in use").
            throw new AddressInUseException(ex.Message, ex);
        }

        try
        {
            socket.Listen(options.Backlog);
            return ValueTask.FromResult<IConnectionListener>(new SmtpSocketListener(socket, feature));
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}
