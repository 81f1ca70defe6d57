using System.Net;
using EarlyPipeProxy.Sessions.Configuration;
using EarlyPipeProxy.Sessions.Inbound;
using EarlyPipeProxy.Sessions.Telemetry;
using EarlyPipeProxy.Sessions.Upstream;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;

namespace EarlyPipeProxy.Host.Hosting;

/// <summary>Kestrel's entry point for inbound SMTP connections: runs an inbound session under the listener's connection cap.</summary>
public sealed class InboundConnectionHandler(
    IUpstreamConnector connector, ProxyMetrics metrics, SessionConnectionRunner runner, GracefulStop stop, ILogger<InboundSession> sessionLogger)
    : ConnectionHandler
{
    // Not async: the runner's task is the connection's, and an idle connection holds one async frame fewer.
    public override Task OnConnectedAsync(ConnectionContext connection)
    {
        var listener = connection.Features.Get<InboundListenerFeature>()!.Listener;
        if (connection.RemoteEndPoint is not IPEndPoint client || connection.LocalEndPoint is not IPEndPoint local)
        {
            return Task.CompletedTask;
        }

        return runner.RunAsync(connection, listener.Name, listener.Connections, listener.AddressLimits, Direction.Inbound, client.Address,
            (Handler: this, Listener: listener, Connection: connection, Client: client, Local: local),
            static (state, closeRequested) => state.Handler.RunSessionAsync(state.Listener, state.Connection, state.Client, state.Local, closeRequested));
    }

    private Task RunSessionAsync(InboundListener listener, ConnectionContext connection, IPEndPoint client, IPEndPoint local, CancellationToken closeRequested)
    {
        var socket = connection.Features.Get<IConnectionSocketFeature>()?.Socket;
        var session = new InboundSession(listener, connection.Transport, client, local, connector, sessionLogger, metrics, socket);
        // Not connection.ConnectionClosed: Kestrel fires it when the client half-closes, and Exim half-closes
        // right after its pipelined QUIT; the replies it is still waiting for must reach it.
        return session.RunAsync(stop.Aborted, closeRequested, stop.CutOff);
    }
}
