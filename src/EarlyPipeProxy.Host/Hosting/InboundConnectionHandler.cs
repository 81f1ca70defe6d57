using System.Net;
using EarlyPipeProxy.Sessions.Upstream;
using EarlyPipeProxy.Sessions.Inbound;
using EarlyPipeProxy.Sessions.Telemetry;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;

namespace EarlyPipeProxy.Host.Hosting;

/// <summary>Kestrel's entry point for inbound SMTP connections: runs an inbound session under the listener's connection cap.</summary>
public sealed class InboundConnectionHandler(
    IUpstreamConnector connector, ProxyMetrics metrics, SessionConnectionRunner runner, ILogger<InboundSession> sessionLogger)
    : ConnectionHandler
{
    public override async Task OnConnectedAsync(ConnectionContext connection)
    {
        var listener = connection.Features.Get<InboundListenerFeature>()!.Listener;
        if (connection.RemoteEndPoint is not IPEndPoint client || connection.LocalEndPoint is not IPEndPoint local)
        {
            return;
        }

        await runner.RunAsync(connection, listener.Name, listener.Connections, Direction.Inbound, client.Address, closeRequested =>
        {
            var socket = connection.Features.Get<IConnectionSocketFeature>()?.Socket;
            var session = new InboundSession(listener, connection.Transport, client, local, connector, sessionLogger,
                metrics, () => TcpRoundTrip.Measure(socket));
            // Not connection.ConnectionClosed: Kestrel fires it when the client half-closes, and Exim half-closes
            // right after its pipelined QUIT; the replies it is still waiting for must reach it.
            return session.RunAsync(CancellationToken.None, closeRequested);
        });
    }
}
