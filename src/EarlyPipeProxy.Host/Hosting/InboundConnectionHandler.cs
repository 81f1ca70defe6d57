using System.Net;
using EarlyPipeProxy.Sessions.Upstream;
using EarlyPipeProxy.Sessions.Inbound;
using EarlyPipeProxy.Sessions.Telemetry;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;

namespace EarlyPipeProxy.Host.Hosting;

/// <summary>Kestrel's entry point for inbound SMTP connections: enforces the listener's connection cap and runs a session.</summary>
public sealed partial class InboundConnectionHandler(
    IUpstreamConnector connector, ProxyMetrics metrics, ILogger<InboundSession> sessionLogger, ILogger<InboundConnectionHandler> logger)
    : ConnectionHandler
{
    public override async Task OnConnectedAsync(ConnectionContext connection)
    {
        var listener = connection.Features.Get<InboundListenerFeature>()!.Listener;
        if (connection.RemoteEndPoint is not IPEndPoint client || connection.LocalEndPoint is not IPEndPoint local)
        {
            return;
        }

        if (!listener.Connections.TryTake())
        {
            LogConnectionLimit(logger, client.Address, listener.Name, listener.Options.Limits.MaxConnections);
            await connection.Transport.Output.WriteAsync(ProxyReplies.TooManyConnections.ToArray());
            return;
        }

        metrics.ConnectionOpened(listener.Name, Direction.Inbound);
        try
        {
            var closeRequested = connection.Features.Get<IConnectionLifetimeNotificationFeature>()?.ConnectionClosedRequested ?? default;
            var socket = connection.Features.Get<IConnectionSocketFeature>()?.Socket;
            var session = new InboundSession(listener, connection.Transport, client, local, connector, sessionLogger,
                metrics, () => TcpRoundTrip.Measure(socket));
            // Not connection.ConnectionClosed: Kestrel fires it when the client half-closes, and Exim half-closes
            // right after its pipelined QUIT; the replies it is still waiting for must reach it.
            await session.RunAsync(CancellationToken.None, closeRequested);
        }
#pragma warning disable CA1031 // A session must never take the listener down; the failure is logged.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            LogSessionFailed(logger, ex, client.Address, listener.Name);
        }
        finally
        {
            metrics.ConnectionClosed(listener.Name, Direction.Inbound);
            listener.Connections.Release();
        }
    }

    [LoggerMessage(EventId = 200, Level = LogLevel.Warning, Message = "connection limit reached: refused H=[{ClientAddress}] I={Listener} (max {Max})")]
    private static partial void LogConnectionLimit(ILogger logger, IPAddress clientAddress, string listener, int max);

    [LoggerMessage(EventId = 201, Level = LogLevel.Error, Message = "session failed H=[{ClientAddress}] I={Listener}")]
    private static partial void LogSessionFailed(ILogger logger, Exception exception, IPAddress clientAddress, string listener);
}
