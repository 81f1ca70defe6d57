using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.Logging;

namespace EarlyPipeProxy.Sessions.Backend;

/// <summary>
/// TCP connections to backends on Kestrel's socket transport (pooled pipe memory, the same abstraction as the
/// client side), via its public <see cref="SocketConnectionContextFactory"/>.
/// </summary>
public sealed class SocketBackendConnector : IBackendConnector, IDisposable
{
    private readonly SocketConnectionContextFactory _factory;

    public SocketBackendConnector(ILogger<SocketBackendConnector> logger)
        // Inline scheduling for the same reason as the listeners (see ProxyHost): no session code blocks.
        => _factory = new SocketConnectionContextFactory(new SocketConnectionFactoryOptions { UnsafePreferInlineScheduling = true }, logger);

    public async ValueTask<BackendConnection> ConnectAsync(IPEndPoint endPoint, CancellationToken cancellationToken)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(endPoint, cancellationToken);
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException)
        {
            socket.Dispose();
            throw new BackendUnavailableException(BackendFailure.Unreachable, $"cannot connect to {endPoint}: {ex.Message}", ex);
        }

        var context = _factory.Create(socket);
        return new BackendConnection(context.Transport, endPoint, async abort =>
        {
            if (abort)
            {
                // Closing with RST rather than FIN: the server must see a broken connection, never a completed message.
                socket.LingerState = new LingerOption(true, 0);
                context.Abort();
            }
            else
            {
                await context.Transport.Output.CompleteAsync();
            }

            await context.DisposeAsync();
        });
    }

    public void Dispose() => _factory.Dispose();
}
