namespace EarlyPipeProxy.Sessions.EhloCache;

/// <summary>Running totals of what the cache did, for logs now and metrics later. Thread-safe.</summary>
public sealed class EhloCacheCounters
{
    private readonly long[] _flushes = new long[Enum.GetValues<EhloCacheFlushReason>().Length];
    private long _hits;
    private long _misses;
    private long _stored;
    private long _rewrites;
    private long _confirmations;
    private long _writeFailures;

    /// <summary>TryGetFresh found a fresh entry.</summary>
    public long Hits => Interlocked.Read(ref _hits);

    /// <summary>TryGetFresh found nothing, or only an expired entry.</summary>
    public long Misses => Interlocked.Read(ref _misses);

    /// <summary>New entries (including ones replacing an expired entry).</summary>
    public long Stored => Interlocked.Read(ref _stored);

    /// <summary>Entries rewritten because the server's capabilities changed.</summary>
    public long Rewrites => Interlocked.Read(ref _rewrites);

    public long Confirmations => Interlocked.Read(ref _confirmations);

    /// <summary>Writes to the database that failed (the in-memory cache went on regardless).</summary>
    public long WriteFailures => Interlocked.Read(ref _writeFailures);

    public long TotalFlushes
    {
        get
        {
            long total = 0;
            for (var i = 0; i < _flushes.Length; i++)
            {
                total += Interlocked.Read(ref _flushes[i]);
            }

            return total;
        }
    }

    public long Flushes(EhloCacheFlushReason reason) => Interlocked.Read(ref _flushes[(int)reason]);

    internal void Hit() => Interlocked.Increment(ref _hits);

    internal void Miss() => Interlocked.Increment(ref _misses);

    internal void Store() => Interlocked.Increment(ref _stored);

    internal void Rewrite() => Interlocked.Increment(ref _rewrites);

    internal void Confirm() => Interlocked.Increment(ref _confirmations);

    internal void WriteFailed() => Interlocked.Increment(ref _writeFailures);

    internal void Flush(EhloCacheFlushReason reason) => Interlocked.Increment(ref _flushes[(int)reason]);
}
