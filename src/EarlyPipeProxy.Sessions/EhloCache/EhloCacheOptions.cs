namespace EarlyPipeProxy.Sessions.EhloCache;

/// <summary>The outbound EHLO cache (bound from the "EhloCache" configuration section).</summary>
public sealed class EhloCacheOptions
{
    public const string SectionName = "EhloCache";

    /// <summary>The LiteDB file. Unset: the cache lives in memory only and is empty after every start.</summary>
    public string? DatabasePath { get; set; }

    /// <summary>
    /// Entries older than this (counted from when they were learnt or last rewritten) are not used: Exim's
    /// retry_data_expire, 7 days by default. Confirming an unchanged reply does not extend it, as in Exim, so every
    /// remote gets a plain lockstep session that re-learns its reply at least once per period.
    /// </summary>
    public TimeSpan Expiry { get; set; } = TimeSpan.FromDays(7);

    /// <summary>
    /// False (the draft's rule, default): any 4xx/5xx reply in an early-pipelined transaction flushes the entry.
    /// True (Exim's behaviour): an ordinary per-message rejection (550-553) keeps it; every other 4xx/5xx still flushes,
    /// because 554 and 5.5.x replies are how servers refuse input that came too early.
    /// </summary>
    public bool KeepOnPermanentRejection { get; set; }

    /// <summary>
    /// Entries held at most; when a new server is learnt into a full cache, the entry used least recently goes (Exim's
    /// hints database has no bound; a proxy relaying for many senders to the whole internet needs one). Each entry is
    /// one EHLO reply, well under a KiB.
    /// </summary>
    public int MaxEntries { get; set; } = 10_000;

    public void Validate()
    {
        if (Expiry <= TimeSpan.Zero)
        {
            throw new InvalidOperationException($"EhloCache:Expiry must be positive (is {Expiry}).");
        }

        if (MaxEntries < 1)
        {
            throw new InvalidOperationException($"EhloCache:MaxEntries must be at least 1 (is {MaxEntries}).");
        }

        if (DatabasePath is { Length: 0 })
        {
            throw new InvalidOperationException("EhloCache:DatabasePath is empty; leave it unset for a cache in memory only.");
        }
    }
}
