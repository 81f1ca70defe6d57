using System.Net;
using Microsoft.Extensions.Logging;

namespace EarlyPipeProxy.Sessions.Logging;

/// <summary>
/// What sessions log, for both directions: Exim-style greppable lines. H= the connection served (client or sender),
/// I= listener, B= backend or U= remote, L= early pipelining, W= a warm remote connection (outbound), X= the peer's TLS, BX=/UX= the upstream's TLS, M/R/C
/// counts, D= duration, Q= the upstream's queue id of each message it accepted.
/// </summary>
public static partial class SessionLog
{
    [LoggerMessage(EventId = LogEventIds.SessionLine, Level = LogLevel.Information,
        Message = "{Kind} H=[{PeerAddress}]:{PeerPort} I={Listener} {UpstreamKey}={Upstream}{EarlyField}{WarmField}{TlsField}{UpstreamTlsField} M={Messages} R={Recipients} C={Commands} in={BytesIn} out={BytesOut} D={DurationSeconds}s{RedoField}{QueueField} end=\"{End}\"")]
    public static partial void SessionLine(ILogger logger, string kind, IPAddress peerAddress, int peerPort, string listener, string upstreamKey, IPEndPoint upstream,
        string earlyField, string warmField, string tlsField, string upstreamTlsField, int messages, int recipients, int commands, long bytesIn, long bytesOut,
        string durationSeconds, string redoField, string queueField, string end);

    [LoggerMessage(EventId = LogEventIds.EarlyInputRefused, Level = LogLevel.Warning,
        Message = "SMTP protocol synchronization error (input sent without waiting for greeting): rejected connection from H=[{PeerAddress}]:{PeerPort} I={Listener} input=\"{Input}\"")]
    public static partial void EarlyInputRefused(ILogger logger, IPAddress peerAddress, int peerPort, string listener, string input);

    [LoggerMessage(EventId = LogEventIds.UpstreamUnavailable, Level = LogLevel.Warning,
        Message = "{UpstreamRole} {UpstreamKey}={Upstream} unavailable for H=[{PeerAddress}]:{PeerPort} I={Listener}: {Reason}")]
    public static partial void UpstreamUnavailable(ILogger logger, string upstreamRole, string upstreamKey, IPEndPoint upstream, IPAddress peerAddress, int peerPort,
        string listener, string reason);

    [LoggerMessage(EventId = LogEventIds.UpstreamClosedIdleSession, Level = LogLevel.Information,
        Message = "{UpstreamRole} {UpstreamKey}={Upstream} {Reason}; relayed to H=[{PeerAddress}]:{PeerPort} I={Listener}")]
    public static partial void UpstreamClosedIdleSession(ILogger logger, string upstreamRole, string upstreamKey, IPEndPoint upstream, IPAddress peerAddress,
        int peerPort, string listener, string reason);

    [LoggerMessage(EventId = LogEventIds.BareLineEndingInData, Level = LogLevel.Warning,
        Message = "message refused from H=[{PeerAddress}]:{PeerPort} I={Listener}: bare {What} in message data (SMTP smuggling protection); {UpstreamRole} connection dropped")]
    public static partial void BareLineEndingInData(ILogger logger, IPAddress peerAddress, int peerPort, string listener, string what, string upstreamRole);

    [LoggerMessage(EventId = LogEventIds.InputAfterStartTls, Level = LogLevel.Warning,
        Message = "H=[{PeerAddress}]:{PeerPort} I={Listener}: {Octets} octets of cleartext after STARTTLS discarded (command injection attempt?)")]
    public static partial void InputAfterStartTls(ILogger logger, IPAddress peerAddress, int peerPort, string listener, long octets);

    [LoggerMessage(EventId = LogEventIds.PeerTlsHandshakeFailed, Level = LogLevel.Information,
        Message = "TLS handshake failed H=[{PeerAddress}]:{PeerPort} I={Listener}: {Reason}")]
    public static partial void PeerTlsHandshakeFailed(ILogger logger, IPAddress peerAddress, int peerPort, string listener, string reason);

    [LoggerMessage(EventId = LogEventIds.UpstreamTlsHandshakeFailed, Level = LogLevel.Warning,
        Message = "TLS handshake with {UpstreamKey}={Upstream} failed for H=[{PeerAddress}]:{PeerPort} I={Listener}: {Reason}")]
    public static partial void UpstreamTlsHandshakeFailed(ILogger logger, string upstreamKey, IPEndPoint upstream, IPAddress peerAddress, int peerPort,
        string listener, string reason);

    [LoggerMessage(EventId = LogEventIds.EarlyFlightRedone, Level = LogLevel.Information,
        Message = "early flight to U={Remote} for H=[{SenderAddress}]:{SenderPort} I={Listener} redone in lockstep: {Reason}")]
    public static partial void EarlyFlightRedone(ILogger logger, IPAddress senderAddress, int senderPort, string listener, IPEndPoint remote, string reason);
}
