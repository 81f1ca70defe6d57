namespace EarlyPipeProxy.Sessions.EhloCache;

/// <summary>What <see cref="EhloCache.Learn(EhloCacheKey, int, IReadOnlyList{string})"/> did with a fresh EHLO reply.</summary>
public enum EhloLearnOutcome
{
    /// <summary>No entry (or only an expired one) existed; the reply offers early pipelining and was stored.</summary>
    Stored,

    /// <summary>The entry existed with other capabilities; it was rewritten and early pipelining is still offered.</summary>
    Rewritten,

    /// <summary>The entry matched the reply; only its last-confirmed time moved.</summary>
    Confirmed,

    /// <summary>
    /// The entry existed but the reply (or banner) no longer qualifies: it was flushed. An early-pipelined session must
    /// stop pipelining early on this connection (Exim ≥ 4.97 does the same).
    /// </summary>
    Flushed,

    /// <summary>No entry existed and the reply does not qualify: nothing was stored.</summary>
    NotCacheable,
}
