using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;

namespace EarlyPipeProxy.Sessions.Transport;

/// <summary>
/// One SMTP listener's listening socket (<see cref="SmtpListenerTransport"/>): accepts connections as
/// <see cref="SmtpSocketConnection"/>s with Nagle off, as Kestrel's transport does (replies are small and awaited).
/// </summary>
public sealed class SmtpSocketListener : IConnectionListener
{
    // A failed accept that is not the listener's own close (no descriptors left, no memory) waits this long before the
    // next try, instead of spinning on the same error.
    private static readonly TimeSpan AcceptFailurePause = TimeSpan.FromMilliseconds(50);

    private readonly Socket _socket;
    private readonly object _listenerFeature;

    public SmtpSocketListener(Socket listening, object listenerFeature)
    {
        ArgumentNullException.ThrowIfNull(listening);
        _socket = listening;
        _listenerFeature = listenerFeature;
        EndPoint = listening.LocalEndPoint!;
    }

    public EndPoint EndPoint { get; }

    /// <summary>The listening socket, for its options.</summary>
    public Socket Socket => _socket;

    public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
    {
        while (true)
        {
            Socket accepted;
            try
            {
                accepted = await _socket.AcceptAsync(cancellationToken);
            }
            catch (ObjectDisposedException)
            {
                // Unbound: no more connections.
                return null;
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.OperationAborted)
            {
                return null;
            }
            catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted)
            {
                // Reset while it waited in the backlog: the next one.
                continue;
            }
            catch (SocketException)
            {
                await Task.Delay(AcceptFailurePause, cancellationToken);
                continue;
            }

            try
            {
                accepted.NoDelay = true;
                return new SmtpSocketConnection(accepted, _listenerFeature);
            }
            catch (SocketException)
            {
                // Reset between the accept and now: nothing to serve.
                accepted.Dispose();
            }
        }
    }

    public ValueTask UnbindAsync(CancellationToken cancellationToken = default)
    {
        _socket.Dispose();
        return ValueTask.CompletedTask;
    }

    public ValueTask DisposeAsync()
    {
        _socket.Dispose();
        return ValueTask.CompletedTask;
    }
}
