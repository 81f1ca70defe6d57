using System.Net;
using EarlyPipeProxy.Sessions.Logging;
using Microsoft.Extensions.Logging;

namespace EarlyPipeProxy.Sessions.Inbound;

/// <summary>What <see cref="ProxyHeaderReceiver"/> logs; H= is the balancer's connection (the session line's H= is then the client).</summary>
internal static partial class ProxyHeaderLog
{
    [LoggerMessage(EventId = LogEventIds.ProxyHeaderRefused, Level = LogLevel.Warning,
        Message = "PROXY header refused H=[{PeerAddress}]:{PeerPort} I={Listener}: {Reason}; connection closed")]
    public static partial void Refused(ILogger logger, IPAddress peerAddress, int peerPort, string listener, string reason);

    [LoggerMessage(EventId = LogEventIds.ProxyHeaderRefused, Level = LogLevel.Debug,
        Message = "PROXY header refused H=[{PeerAddress}]:{PeerPort} I={Listener}: {Reason}; connection closed")]
    public static partial void ClosedByBalancer(ILogger logger, IPAddress peerAddress, int peerPort, string listener, string reason);

    [LoggerMessage(EventId = LogEventIds.ProxyHeaderReceived, Level = LogLevel.Debug,
        Message = "PROXY header H=[{PeerAddress}]:{PeerPort} I={Listener}: {What}")]
    public static partial void Received(ILogger logger, IPAddress peerAddress, int peerPort, string listener, string what);
}
