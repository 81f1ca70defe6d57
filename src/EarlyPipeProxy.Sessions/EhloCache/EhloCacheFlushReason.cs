namespace EarlyPipeProxy.Sessions.EhloCache;

/// <summary>Why an entry left the cache (counted per reason).</summary>
public enum EhloCacheFlushReason
{
    /// <summary>A fresh EHLO reply no longer offers the keyword together with PIPELINING.</summary>
    KeywordWithdrawn,

    /// <summary>The banner of an early-pipelined session was not a 220.</summary>
    BadBanner,

    /// <summary>The connection failed or was dropped during the early flight.</summary>
    ConnectionFailed,

    /// <summary>A 4xx reply in an early-pipelined transaction.</summary>
    TransientRejection,

    /// <summary>A 5xx reply in an early-pipelined transaction.</summary>
    PermanentRejection,

    /// <summary>Older than the configured expiry when it was read.</summary>
    Expired,

    /// <summary>Flushed by the operator (CLI).</summary>
    Operator,

    /// <summary>The cache was full (<see cref="EhloCacheOptions.MaxEntries"/>) and this entry was the least recently used.</summary>
    Evicted,

    /// <summary>
    /// A reply to the early flight objected to the commands themselves (500, 501, 503, 554, 5.5.x): the remote may not
    /// take early input from us after all, and the session was redone in lockstep.
    /// </summary>
    EarlyInputRefused,
}
