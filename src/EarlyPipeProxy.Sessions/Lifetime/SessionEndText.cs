using EarlyPipeProxy.Sessions.Telemetry;
using EarlyPipeProxy.Sessions.Upstream;

namespace EarlyPipeProxy.Sessions.Lifetime;

/// <summary>The words of an end= field and the bounded outcome label of the sessions metric.</summary>
public static class SessionEndText
{
    /// <summary>
    /// "QUIT", "client closed", "backend closed with 421" …: the peer and upstream are named as each direction names
    /// them (client and backend inbound, sender and remote outbound), as operators have grepped them so far.
    /// </summary>
    public static string Describe(SessionEnd end, string direction, string? detail, UpstreamFailure failure)
    {
        var peer = direction == Direction.Inbound ? "client" : "sender";
        var upstream = direction == Direction.Inbound ? "backend" : "remote";
        return end switch
        {
            SessionEnd.Quit => "QUIT",
            SessionEnd.PeerClosed => peer + " closed",
            SessionEnd.Shutdown => "shutdown",
            SessionEnd.ShutdownMessageAbandoned => "shutdown, message abandoned before its end",
            SessionEnd.AbortedAwaitingVerdict => "connection aborted awaiting the " + upstream + "'s verdict",
            SessionEnd.PeerClosedMidCommand => peer + " closed mid-command",
            SessionEnd.PeerClosedBeforeGreeting => peer + " closed before greeting",
            SessionEnd.PeerClosedDuringAuth => peer + " closed during AUTH",
            SessionEnd.PeerConnectionLost => peer + " connection lost",
            SessionEnd.PeerLostDuringData => peer + " connection lost during DATA",
            SessionEnd.PeerLostDuringBdat => peer + " connection lost during BDAT",
            SessionEnd.Aborted => "connection aborted",
            SessionEnd.Timeout => "timeout",
            SessionEnd.TlsHandshakeFailed => "TLS handshake failed",
            SessionEnd.InputBeforeGreeting => "synchronization error (input before greeting)",
            SessionEnd.ProxyHeaderNotAccepted => "PROXY header from an address not in AcceptProxyHeaderFrom",
            SessionEnd.DataBefore354 => "synchronization error (data before 354)",
            SessionEnd.BareLineEndingInData => "message refused: bare CR, LF or NUL in data",
            SessionEnd.MalformedBdat => "malformed BDAT",
            SessionEnd.ChunkedMessageAbandoned => "chunked message abandoned by RSET",
            SessionEnd.UpstreamGreeting => upstream + " greeting " + detail,
            SessionEnd.UpstreamClosedWith421 => upstream + " closed with 421",
            SessionEnd.UpstreamUnavailable => upstream + " " + failure switch
            {
                UpstreamFailure.TlsFailed => "TLS failed",
                UpstreamFailure.MalformedReply => "refused or misbehaved",
                _ => failure.ToString().ToLowerInvariant(),
            },
            _ => end.ToString(),
        };
    }

    /// <summary>The sessions metric's outcome: "completed" (QUIT), "closed" (the peer left without QUIT, or a stop) or "error".</summary>
    public static string Outcome(SessionEnd end) => end switch
    {
        SessionEnd.Quit => SessionOutcomes.Completed,
        SessionEnd.PeerClosed or SessionEnd.Shutdown => SessionOutcomes.Closed,
        _ => SessionOutcomes.Error,
    };
}
