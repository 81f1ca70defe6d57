using System.Net;
using EarlyPipeProxy.Protocol.Replies;
using EarlyPipeProxy.Sessions.Configuration;
using EarlyPipeProxy.Sessions.EhloCache;
using EarlyPipeProxy.Sessions.Logging;
using EarlyPipeProxy.Sessions.Outbound;
using EarlyPipeProxy.Sessions.Telemetry;
using EarlyPipeProxy.Sessions.Upstream;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;

namespace EarlyPipeProxy.Host.Hosting;

/// <summary>
/// Kestrel's entry point for legacy senders: finds where the connection goes (the fixed upstream or its original
/// destination) and runs an outbound session under the listener's connection cap.
/// </summary>
public sealed partial class OutboundConnectionHandler(
    IUpstreamConnector connector, EhloCache cache, ProxyMetrics metrics, SessionConnectionRunner runner, GracefulStop stop, OwnListeners ownListeners,
    ILogger<OutboundSession> sessionLogger, ILogger<OutboundConnectionHandler> logger)
    : ConnectionHandler
{
    // Not async: the runner's task is the connection's, and an idle connection holds one async frame fewer.
    public override Task OnConnectedAsync(ConnectionContext connection)
    {
        var live = connection.Features.Get<OutboundListenerFeature>()!.Listener;
        var listener = live.Settings;
        if (connection.RemoteEndPoint is not IPEndPoint sender)
        {
            return Task.CompletedTask;
        }

        var remote = listener.Upstream;
        if (remote is null
            && !(connection.Features.Get<IConnectionSocketFeature>()?.Socket is { } socket && OriginalDestination.TryGet(socket, out remote)))
        {
            // Reached directly rather than through a REDIRECT rule: there is nowhere to relay to.
            LogNoDestination(logger, sender.Address, listener.Name);
            return connection.Transport.Output.WriteAsync(ProxyReplies.NoDestination.ToArray()).AsTask();
        }

        if (listener.AllowedSenders is { } allowed && !allowed.Contains(sender.Address))
        {
            LogSenderNotAllowed(logger, sender.Address, listener.Name);
            return connection.Transport.Output.WriteAsync(ProxyReplies.SenderNotAllowed.ToArray()).AsTask();
        }

        if (listener.Upstream is null && ownListeners.Contains(remote))
        {
            LogDestinationIsThisProxy(logger, sender.Address, listener.Name, remote);
            return connection.Transport.Output.WriteAsync(ProxyReplies.DestinationIsThisProxy.ToArray()).AsTask();
        }

        return runner.RunAsync(connection, listener.Name, live.Connections, live.AddressLimits, Direction.Outbound, sender.Address,
            (Handler: this, Listener: live, Connection: connection, Sender: sender, Remote: remote),
            static (state, closeRequested) => state.Handler.RunSessionAsync(state.Listener, state.Connection, state.Sender, state.Remote, closeRequested));
    }

    private Task RunSessionAsync(OutboundListener listener, ConnectionContext connection, IPEndPoint sender, IPEndPoint remote, CancellationToken closeRequested)
    {
        var session = new OutboundSession(listener, connection.Transport, sender, remote, connector, cache, sessionLogger, metrics);
        // Not connection.ConnectionClosed: Kestrel fires it when the sender half-closes after QUIT.
        return session.RunAsync(stop.Aborted, closeRequested, stop.CutOff);
    }

    [LoggerMessage(EventId = LogEventIds.SenderNotAllowed, Level = LogLevel.Warning,
        Message = "sender not allowed: refused H=[{SenderAddress}] I={Listener} (AllowedSenders)")]
    private static partial void LogSenderNotAllowed(ILogger logger, IPAddress senderAddress, string listener);

    [LoggerMessage(EventId = LogEventIds.OriginalDestinationIsThisProxy, Level = LogLevel.Warning,
        Message = "mail loop refused: the original destination of H=[{SenderAddress}] I={Listener} is this proxy's own listener {Destination}")]
    private static partial void LogDestinationIsThisProxy(ILogger logger, IPAddress senderAddress, string listener, IPEndPoint destination);

    [LoggerMessage(EventId = LogEventIds.NoOriginalDestination, Level = LogLevel.Warning,
        Message = "no original destination for H=[{SenderAddress}] I={Listener}: the connection was not redirected to this listener")]
    private static partial void LogNoDestination(ILogger logger, IPAddress senderAddress, string listener);
}
