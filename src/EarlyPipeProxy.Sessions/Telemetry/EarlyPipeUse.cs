namespace EarlyPipeProxy.Sessions.Telemetry;

/// <summary>
/// The session line's L field and the sessions metric's "early" label. Inbound it is about what the proxy offered its
/// client; outbound about what the remote offered the proxy.
/// </summary>
public enum EarlyPipeUse
{
    /// <summary>No L field: the keyword was not offered (inbound: not advertised to this client; outbound: the remote has none).</summary>
    NotAdvertised,

    /// <summary>"L.": offered, not used (outbound: a lockstep session learnt or confirmed the remote's reply).</summary>
    Advertised,

    /// <summary>"L*": commands went before the banner (inbound: accepted from the client; outbound: the early flight).</summary>
    Used,
}
