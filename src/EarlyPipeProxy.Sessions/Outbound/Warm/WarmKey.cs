using EarlyPipeProxy.Sessions.EhloCache;

namespace EarlyPipeProxy.Sessions.Outbound.Warm;

/// <summary>
/// What a parked connection is kept under: the EHLO cache's key (source address, remote address and port, TLS phase),
/// the EHLO name the remote was greeted with, and the listener's TLS policy toward the remote (mode, certificate
/// verification, server name, trust anchors). A connection secured under one policy is never reused under another,
/// nor one greeted as one sender for another sender's name.
/// </summary>
internal readonly record struct WarmKey(EhloCacheKey Remote, string HeloName, string TlsPolicy)
{
    /// <summary>The remote whatever the phase: the per-destination bound counts all its connections.</summary>
    public EhloCacheKey Destination => Remote.WithPhase(TlsPhase.Cleartext);
}
