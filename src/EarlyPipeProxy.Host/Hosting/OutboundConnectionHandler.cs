using System.Net;
using EarlyPipeProxy.Sessions.Upstream;
using EarlyPipeProxy.Sessions.EhloCache;
using EarlyPipeProxy.Sessions.Inbound;
using EarlyPipeProxy.Sessions.Outbound;
using EarlyPipeProxy.Sessions.Telemetry;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;

namespace EarlyPipeProxy.Host.Hosting;

/// <summary>
/// Kestrel's entry point for legacy senders: enforces the listener's connection cap, finds where the connection goes
/// (the fixed upstream or its original destination) and runs an outbound session.
/// </summary>
public sealed partial class OutboundConnectionHandler(
    IUpstreamConnector connector, EhloCache cache, ProxyMetrics metrics, ILogger<OutboundSession> sessionLogger, ILogger<OutboundConnectionHandler> logger)
    : ConnectionHandler
{
    public override async Task OnConnectedAsync(ConnectionContext connection)
    {
        var listener = connection.Features.Get<OutboundListenerFeature>()!.Listener;
        if (connection.RemoteEndPoint is not IPEndPoint sender)
        {
            return;
        }

        var remote = listener.Upstream;
        if (remote is null
            && !(connection.Features.Get<IConnectionSocketFeature>()?.Socket is { } socket && OriginalDestination.TryGet(socket, out remote)))
        {
            // Reached directly rather than through a REDIRECT rule: there is nowhere to relay to.
            LogNoDestination(logger, sender.Address, listener.Name);
            await connection.Transport.Output.WriteAsync(OutboundReplies.NoDestination.ToArray());
            return;
        }

        if (!listener.Connections.TryTake())
        {
            LogConnectionLimit(logger, sender.Address, listener.Name, listener.Connections.Capacity);
            await connection.Transport.Output.WriteAsync(ProxyReplies.TooManyConnections.ToArray());
            return;
        }

        metrics.ConnectionOpened(listener.Name, Direction.Outbound);
        try
        {
            var closeRequested = connection.Features.Get<IConnectionLifetimeNotificationFeature>()?.ConnectionClosedRequested ?? default;
            var session = new OutboundSession(listener, connection.Transport, sender, remote, connector, cache, sessionLogger, metrics);
            // Not connection.ConnectionClosed: Kestrel fires it when the sender half-closes after QUIT.
            await session.RunAsync(CancellationToken.None, closeRequested);
        }
#pragma warning disable CA1031 // A session must never take the listener down; the failure is logged.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            LogSessionFailed(logger, ex, sender.Address, listener.Name);
        }
        finally
        {
            metrics.ConnectionClosed(listener.Name, Direction.Outbound);
            listener.Connections.Release();
        }
    }

    [LoggerMessage(EventId = 210, Level = LogLevel.Warning, Message = "connection limit reached: refused H=[{SenderAddress}] I={Listener} (max {Max})")]
    private static partial void LogConnectionLimit(ILogger logger, IPAddress senderAddress, string listener, int max);

    [LoggerMessage(EventId = 211, Level = LogLevel.Error, Message = "session failed H=[{SenderAddress}] I={Listener}")]
    private static partial void LogSessionFailed(ILogger logger, Exception exception, IPAddress senderAddress, string listener);

    [LoggerMessage(EventId = 212, Level = LogLevel.Warning,
        Message = "no original destination for H=[{SenderAddress}] I={Listener}: the connection was not redirected to this listener")]
    private static partial void LogNoDestination(ILogger logger, IPAddress senderAddress, string listener);
}
