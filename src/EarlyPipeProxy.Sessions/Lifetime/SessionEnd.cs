namespace EarlyPipeProxy.Sessions.Lifetime;

/// <summary>
/// Why a session ended: the session line's end= field and the metric's outcome both come from it (see
/// <see cref="SessionEndText"/>), so a new way to end is a new value here, never a new string somewhere.
/// </summary>
public enum SessionEnd
{
    /// <summary>QUIT answered (or the upstream's 221 relayed).</summary>
    Quit,

    /// <summary>The peer closed between commands.</summary>
    PeerClosed,

    /// <summary>A graceful stop asked the session to end between transactions (421 4.3.2).</summary>
    Shutdown,

    /// <summary>
    /// A graceful stop's cut-off came before the peer's message (or its transaction) ended: the upstream never got an
    /// end of data, so nothing was delivered, and the peer got 421 4.3.2 and sends the message again later.
    /// </summary>
    ShutdownMessageAbandoned,

    /// <summary>
    /// Aborted (a stop's ShutdownTimeout, or a second SIGTERM) while the upstream had the end of a message and its
    /// verdict had not come: the upstream may have taken the message although the peer never saw it accepted, so the
    /// peer may send it again (a possible duplicate).
    /// </summary>
    AbortedAwaitingVerdict,

    PeerClosedMidCommand,
    PeerClosedBeforeGreeting,
    PeerClosedDuringAuth,
    PeerConnectionLost,
    PeerLostDuringData,
    PeerLostDuringBdat,

    /// <summary>The listener aborted the connection.</summary>
    Aborted,

    /// <summary>The peer did not send within its timeout (421 4.4.2).</summary>
    Timeout,

    /// <summary>The peer's TLS handshake with the proxy failed.</summary>
    TlsHandshakeFailed,

    /// <summary>Input before the banner from a host not offered early pipelining (554 5.5.0).</summary>
    InputBeforeGreeting,

    /// <summary>
    /// A PROXY header as the first octets from an address not in AcceptProxyHeaderFrom (or a second one behind a
    /// balancer's): closed without a word, as a balancer's malformed header is.
    /// </summary>
    ProxyHeaderNotAccepted,

    /// <summary>Message data pipelined behind DATA, before its 354 (RFC 2920 §3.1).</summary>
    DataBefore354,

    /// <summary>Bare CR, LF or NUL in message data: the message was refused (SMTP smuggling protection).</summary>
    BareLineEndingInData,

    MalformedBdat,

    /// <summary>
    /// RSET between the chunks of a message the upstream receives as DATA (it has no CHUNKING): its DATA cannot end
    /// without delivering, so the upstream connection was reset and the peer got 421.
    /// </summary>
    ChunkedMessageAbandoned,

    /// <summary>The upstream refused the connection in its greeting; <see cref="Telemetry.SessionRecord.EndDetail"/> has its code.</summary>
    UpstreamGreeting,

    /// <summary>The upstream said 421 and closed (RFC 5321 §3.8).</summary>
    UpstreamClosedWith421,

    /// <summary>The upstream could not be used; <see cref="Telemetry.SessionRecord.UpstreamFailure"/> says how.</summary>
    UpstreamUnavailable,
}
