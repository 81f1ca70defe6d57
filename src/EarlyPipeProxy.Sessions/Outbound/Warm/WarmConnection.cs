using EarlyPipeProxy.Protocol.Capabilities;
using EarlyPipeProxy.Sessions.EhloCache;
using EarlyPipeProxy.Sessions.Upstream;

namespace EarlyPipeProxy.Sessions.Outbound.Warm;

/// <summary>
/// A remote connection between two sessions: the connection itself and what the session that greeted it knew, which
/// the next one needs without asking again (the capabilities of its live EHLO reply, its TLS phase and description),
/// and what bounds its reuse (its age, the messages it carried).
/// </summary>
internal sealed class WarmConnection
{
    public required UpstreamConnection Connection { get; init; }

    /// <summary>The remote's live EHLO reply on this connection (after TLS when secured): what is in force on it.</summary>
    public required EhloCapabilities Capabilities { get; init; }

    public required TlsPhase Phase { get; init; }

    /// <summary>The session line's UX= field as the session that secured it wrote it; empty in cleartext.</summary>
    public required string UpstreamTls { get; init; }

    /// <summary>"none", "starttls" or "implicit", for the sessions metric.</summary>
    public required string TlsLabel { get; init; }

    /// <summary>When the TCP connection was made (the cache's clock), for ConnectionCache:MaxAge.</summary>
    public required long ConnectedAt { get; init; }

    /// <summary>Messages whose end of data it carried, for ConnectionCache:MaxMessages.</summary>
    public required int Messages { get; init; }

    public required int MaxReplyLineLength { get; init; }

    /// <summary>It began with an early flight (<see cref="RemoteLink.OpenedEarly"/>).</summary>
    public required bool OpenedEarly { get; init; }

    /// <summary>
    /// The RSET sent when it was parked has not been answered yet: the watch reads the answer while it is parked, the
    /// next session first thing when it takes the connection sooner. Anything but 250 makes the connection stale.
    /// </summary>
    public bool ResetPending { get; set; }
}
