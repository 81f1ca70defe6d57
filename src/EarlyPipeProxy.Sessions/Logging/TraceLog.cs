using System.Net;
using Microsoft.Extensions.Logging;

namespace EarlyPipeProxy.Sessions.Logging;

/// <summary>
/// The per-client trace's lines (<see cref="Tracing.SessionTrace"/>), under their own EventId so they can be routed
/// or filtered apart from the session lines. H= and I= are the session line's, so one grep finds a session and its trace.
/// </summary>
public static partial class TraceLog
{
    [LoggerMessage(EventId = LogEventIds.SessionTrace, Level = LogLevel.Information,
        Message = "trace H=[{PeerAddress}]:{PeerPort} I={Listener} {Way} {Line}")]
    public static partial void Traced(ILogger logger, IPAddress peerAddress, int peerPort, string listener, string way, string line);
}
