using System.Net;
using EarlyPipeProxy.Sessions.Configuration;
using EarlyPipeProxy.Sessions.Inbound;
using EarlyPipeProxy.Sessions.Telemetry;
using EarlyPipeProxy.Sessions.Upstream;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;

namespace EarlyPipeProxy.Host.Hosting;

/// <summary>
/// Kestrel's entry point for inbound SMTP connections: reads a listed load balancer's PROXY header, then runs an inbound
/// session for the client under the listener's connection cap and that client's per-address limits.
/// </summary>
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

        if (listener.Settings.ProxyHeaderFrom is { } balancers && balancers.Contains(client.Address))
        {
            return RunAfterProxyHeaderAsync(listener, connection, client, local);
        }

        return RunAsync(listener, connection, client, local);
    }

    /// <summary>
    /// A connection from a listed load balancer: its PROXY header first, before any slot, limit or byte of ours, so that
    /// the client it names is the one the per-address limits count (never the balancer's address) and the session serves.
    /// </summary>
    private async Task RunAfterProxyHeaderAsync(InboundListener listener, ConnectionContext connection, IPEndPoint balancer, IPEndPoint local)
    {
        var reception = await ProxyHeaderReceiver.ReceiveAsync(connection.Transport.Input, balancer, local, listener.Settings, sessionLogger, metrics,
            aborted: stop.Aborted);
        if (reception is not null)
        {
            await RunAsync(listener, connection, reception.Client, reception.Local);
        }
    }

    private Task RunAsync(InboundListener listener, ConnectionContext connection, IPEndPoint client, IPEndPoint local) =>
        runner.RunAsync(connection, listener.Name, listener.Connections, listener.AddressLimits, Direction.Inbound, client.Address,
            (Handler: this, Listener: listener, Connection: connection, Client: client, Local: local),
            static (state, closeRequested) => state.Handler.RunSessionAsync(state.Listener, state.Connection, state.Client, state.Local, closeRequested));

    private Task RunSessionAsync(InboundListener listener, ConnectionContext connection, IPEndPoint client, IPEndPoint local, CancellationToken closeRequested)
    {
        var socket = connection.Features.Get<IConnectionSocketFeature>()?.Socket;
        var session = new InboundSession(listener, connection.Transport, client, local, connector, sessionLogger, metrics, socket);
        // Not connection.ConnectionClosed: Kestrel fires it when the client half-closes, and Exim half-closes
        // right after its pipelined QUIT; the replies it is still waiting for must reach it.
        return session.RunAsync(stop.Aborted, closeRequested, stop.CutOff);
    }
}
