using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using EarlyPipeProxy.Protocol.Capabilities;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace EarlyPipeProxy.Sessions.EhloCache;

/// <summary>
/// The outbound side's memory of which servers offer early pipelining (draft-harris-early-pipe; Exim's hints database).
/// Reads come from memory and never wait; every change is applied in memory at once and written to the LiteDB file
/// by one background writer. The rules are the draft's and Exim's: an entry is used only while younger than the expiry,
/// rewritten when a live EHLO reply differs, and flushed when the keyword is gone, the banner is bad, the early flight
/// failed, or a 4xx/5xx came back in an early-pipelined transaction.
/// </summary>
public sealed partial class EhloCache : IAsyncDisposable
{
    // The only banner code RFC 5321 §4.2 gives a greeting; anything else in front of an early flight is a refusal.
    private const int ReadyBannerCode = 220;

    private readonly ConcurrentDictionary<EhloCacheKey, EhloCacheEntry> _entries = new();

    // When each entry was last used (read fresh or learnt), on a counter of our own: the order is all eviction needs.
    private readonly ConcurrentDictionary<EhloCacheKey, long> _lastUsed = new();
    private long _useClock;

    // Serialises the read-compare-write rules; reads (TryGetFresh, List) do not take it.
    private readonly Lock _gate = new();

    private readonly EhloCacheOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private EhloCacheWriter? _writer;

    private EhloCache(EhloCacheOptions options, TimeProvider time, ILogger logger)
    {
        _options = options;
        _time = time;
        _logger = logger;
    }

    public EhloCacheCounters Counters { get; } = new();

    /// <summary>Entries in memory, expired ones included until they are read or flushed.</summary>
    public int Count => _entries.Count;

    /// <summary>True while changes are being written to <see cref="EhloCacheOptions.DatabasePath"/>.</summary>
    public bool IsPersistent => _writer?.IsPersisting == true;

    /// <summary>
    /// Loads the database named in the options (in memory only when none is). Never fails because of the file: a
    /// damaged one is logged, moved aside and replaced by an empty cache. Throws only for invalid options.
    /// </summary>
    public static EhloCache Open(EhloCacheOptions options, TimeProvider timeProvider, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(timeProvider);
        options.Validate();

        var cache = new EhloCache(options, timeProvider, logger ?? NullLogger.Instance);
        if (options.DatabasePath is null)
        {
            return cache;
        }

        var store = LiteDbEhloStore.Open(options.DatabasePath, timeProvider, cache._logger, out var loaded);
        // Oldest confirmation first, so that when the file holds more than the cache may, the stalest entries go.
        foreach (var entry in loaded.OrderBy(entry => entry.LastConfirmedAt))
        {
            cache._entries[entry.Key] = entry;
            cache.MarkUsed(entry.Key);
        }

        if (store is not null)
        {
            cache._writer = new EhloCacheWriter(store, cache.Current, () => [.. cache._entries.Values], cache.Counters, cache._logger);
            LogOpened(cache._logger, store.FilePath, loaded.Count);
        }

        lock (cache._gate)
        {
            // A file written with a larger MaxEntries: the stalest entries go now (and from the file, through the writer).
            cache.EvictLeastRecentlyUsedLocked(except: default);
        }

        return cache;
    }

    /// <summary>The entry when there is one younger than the expiry. An expired entry is flushed on the way (as Exim does).</summary>
    public bool TryGetFresh(EhloCacheKey key, [NotNullWhen(true)] out EhloCacheEntry? entry)
    {
        if (_entries.TryGetValue(key, out entry))
        {
            if (IsFresh(entry))
            {
                Counters.Hit();
                MarkUsed(key);
                return true;
            }

            lock (_gate)
            {
                // Only the entry that was read: a concurrent Learn may have replaced it with a fresh one meanwhile.
                if (_entries.TryRemove(new KeyValuePair<EhloCacheKey, EhloCacheEntry>(key, entry)))
                {
                    _lastUsed.TryRemove(key, out _);
                    Counters.Flush(EhloCacheFlushReason.Expired);
                    LogFlushed(_logger, key, EhloCacheFlushReason.Expired);
                    _writer?.MarkDirty(key);
                }
            }
        }

        Counters.Miss();
        entry = null;
        return false;
    }

    /// <summary>Whether <paramref name="entry"/> is younger than the configured expiry.</summary>
    public bool IsFresh(EhloCacheEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        var age = _time.GetUtcNow() - entry.LearntAt;

        // An entry from the "future" after the clock was set back is trusted only as far as the expiry reaches.
        return age < _options.Expiry && age > -_options.Expiry;
    }

    /// <summary>
    /// Records the banner code and EHLO reply a session just received (lines as received, with "250-"/"250 ", without
    /// CRLF). Stores it when it offers early pipelining, rewrites the entry when the capabilities changed, confirms it
    /// when they did not, and flushes an existing entry when the banner is not 220 or the reply lacks the keyword or
    /// PIPELINING.
    /// </summary>
    public EhloLearnOutcome Learn(EhloCacheKey key, int bannerCode, IReadOnlyList<string> ehloLines)
    {
        ArgumentNullException.ThrowIfNull(ehloLines);
        if (key.LocalAddress is null)
        {
            // default(EhloCacheKey): an entry without addresses could not be written and would only poison the file.
            throw new ArgumentException("The key has no addresses.", nameof(key));
        }

        var now = _time.GetUtcNow();

        EhloCacheFlushReason? refusal = null;
        EhloCacheEntry? learnt = null;
        if (bannerCode != ReadyBannerCode)
        {
            refusal = EhloCacheFlushReason.BadBanner;
        }
        else if (!EhloCacheEntry.TryCreate(key, bannerCode, ehloLines, now, now, out learnt) || !learnt.OffersEarlyPipelining)
        {
            refusal = EhloCacheFlushReason.KeywordWithdrawn;
        }

        lock (_gate)
        {
            _entries.TryGetValue(key, out var existing);
            if (refusal is { } reason)
            {
                return existing is not null && FlushLocked(key, reason) ? EhloLearnOutcome.Flushed : EhloLearnOutcome.NotCacheable;
            }

            EhloLearnOutcome outcome;
            if (existing is null || !IsFresh(existing))
            {
                _entries[key] = learnt!;
                Counters.Store();
                LogLearnt(_logger, key, learnt!.EarlyPipeKeyword!);
                outcome = EhloLearnOutcome.Stored;
            }
            else if (existing.HasSameCapabilities(learnt!))
            {
                _entries[key] = existing.WithLastConfirmed(now);
                Counters.Confirm();
                outcome = EhloLearnOutcome.Confirmed;
            }
            else
            {
                _entries[key] = learnt!;
                Counters.Rewrite();
                LogRewritten(_logger, key, learnt!.EarlyPipeKeyword!);
                outcome = EhloLearnOutcome.Rewritten;
            }

            MarkUsed(key);
            _writer?.MarkDirty(key);
            if (outcome == EhloLearnOutcome.Stored && _entries.Count > _options.MaxEntries)
            {
                EvictLeastRecentlyUsedLocked(except: key);
            }

            return outcome;
        }
    }

    /// <summary>
    /// <see cref="Learn(EhloCacheKey, int, IReadOnlyList{string})"/> from the raw reply as read from the wire (every
    /// line with its CRLF).
    /// </summary>
    public EhloLearnOutcome Learn(EhloCacheKey key, int bannerCode, in ReadOnlySequence<byte> rawEhloReply)
    {
        return Learn(key, bannerCode, EhloCapabilities.SplitLines(rawEhloReply));
    }

    /// <summary>Moves the entry's last-confirmed time to now (it does not extend the expiry). False when there is no entry.</summary>
    public bool Confirm(EhloCacheKey key)
    {
        lock (_gate)
        {
            if (!_entries.TryGetValue(key, out var existing))
            {
                return false;
            }

            _entries[key] = existing.WithLastConfirmed(_time.GetUtcNow());
            Counters.Confirm();
            _writer?.MarkDirty(key);
            return true;
        }
    }

    /// <summary>Removes the entry; false when there was none.</summary>
    public bool Flush(EhloCacheKey key, EhloCacheFlushReason reason)
    {
        if (!Enum.IsDefined(reason))
        {
            throw new ArgumentOutOfRangeException(nameof(reason));
        }

        lock (_gate)
        {
            return FlushLocked(key, reason);
        }
    }

    /// <summary>
    /// Applies the flush rule to a reply received in an early-pipelined transaction: any 4xx/5xx flushes the entry
    /// (the draft's MUST), except an ordinary 550-553 rejection with <see cref="EhloCacheOptions.KeepOnPermanentRejection"/>.
    /// The server's entries for the other TLS phases go with it. True when the entry of <paramref name="key"/> was flushed.
    /// </summary>
    public bool OnEarlyTransactionReply(EhloCacheKey key, int replyCode)
    {
        if (replyCode < 400)
        {
            return false;
        }

        // 550-553 are decisions about a mailbox or a message; 554, 5.5.x syntax/sequence errors and every 4xx may be
        // the server's way of refusing the early flight itself, so they flush even when rejections are kept.
        if (_options.KeepOnPermanentRejection && replyCode is >= 550 and <= 553)
        {
            return false;
        }

        // The whole server is flushed, every TLS phase, as Exim keeps one record per server: after a rejection in the
        // post-TLS transaction the cleartext entry would otherwise still send EHLO,STARTTLS before the banner.
        var reason = replyCode < 500 ? EhloCacheFlushReason.TransientRejection : EhloCacheFlushReason.PermanentRejection;
        lock (_gate)
        {
            var flushed = false;
            foreach (var phase in Enum.GetValues<TlsPhase>())
            {
                var sibling = new EhloCacheKey(key.LocalAddress, key.RemoteAddress, key.RemotePort, phase);
                flushed |= FlushLocked(sibling, reason) && phase == key.Phase;
            }

            return flushed;
        }
    }

    /// <summary>Every entry (expired ones included), ordered by remote address, port, local address and phase.</summary>
    public IReadOnlyList<EhloCacheEntry> List() => Order(_entries.Values);

    /// <summary>The entries of one remote ("HOST" or "HOST:PORT", HOST an IP address).</summary>
    public IReadOnlyList<EhloCacheEntry> Find(string hostAndPort) => Find(EhloCacheHostFilter.Parse(hostAndPort));

    public IReadOnlyList<EhloCacheEntry> Find(EhloCacheHostFilter filter) =>
        Order(_entries.Values.Where(entry => filter.Matches(entry.Key)));

    /// <summary>Flushes every entry, or those of one remote ("HOST" or "HOST:PORT"); returns how many.</summary>
    public int FlushAll(string? hostFilter = null) =>
        FlushAll(string.IsNullOrWhiteSpace(hostFilter) ? null : EhloCacheHostFilter.Parse(hostFilter));

    public int FlushAll(EhloCacheHostFilter? filter)
    {
        var flushed = 0;
        lock (_gate)
        {
            foreach (var key in _entries.Keys)
            {
                if ((filter is null || filter.Value.Matches(key)) && FlushLocked(key, EhloCacheFlushReason.Operator))
                {
                    flushed++;
                }
            }
        }

        return flushed;
    }

    /// <summary>Completes when every change made before the call is in the file. Immediate for a cache in memory.</summary>
    public ValueTask WaitForPendingWritesAsync(CancellationToken cancellationToken = default) =>
        _writer?.WaitForPendingWritesAsync(cancellationToken) ?? ValueTask.CompletedTask;

    /// <summary>Writes what is pending and closes the file.</summary>
    public async ValueTask DisposeAsync()
    {
        var writer = Interlocked.Exchange(ref _writer, null);
        if (writer is not null)
        {
            await writer.DisposeAsync();
        }
    }

    private EhloCacheEntry? Current(EhloCacheKey key) => _entries.TryGetValue(key, out var entry) ? entry : null;

    private bool FlushLocked(EhloCacheKey key, EhloCacheFlushReason reason)
    {
        if (!_entries.TryRemove(key, out _))
        {
            return false;
        }

        _lastUsed.TryRemove(key, out _);
        Counters.Flush(reason);
        LogFlushed(_logger, key, reason);
        _writer?.MarkDirty(key);
        return true;
    }

    private void MarkUsed(EhloCacheKey key) => _lastUsed[key] = Interlocked.Increment(ref _useClock);

    /// <summary>
    /// Makes room: the entries used least recently go until the cache holds <see cref="EhloCacheOptions.MaxEntries"/>.
    /// A scan, not an ordered index: it runs only when a new server is learnt into a full cache, and keeps reads free.
    /// </summary>
    private void EvictLeastRecentlyUsedLocked(EhloCacheKey except)
    {
        while (_entries.Count > _options.MaxEntries)
        {
            EhloCacheKey? oldest = null;
            var oldestUse = long.MaxValue;
            foreach (var key in _entries.Keys)
            {
                var used = _lastUsed.GetValueOrDefault(key);
                if (!key.Equals(except) && used < oldestUse)
                {
                    (oldest, oldestUse) = (key, used);
                }
            }

            if (oldest is not { } victim || !FlushLocked(victim, EhloCacheFlushReason.Evicted))
            {
                return;
            }
        }
    }

    private static List<EhloCacheEntry> Order(IEnumerable<EhloCacheEntry> entries) =>
        [.. entries
            .OrderBy(entry => entry.Key.RemoteAddress.ToString(), StringComparer.Ordinal)
            .ThenBy(entry => entry.Key.RemotePort)
            .ThenBy(entry => entry.Key.LocalAddress.ToString(), StringComparer.Ordinal)
            .ThenBy(entry => entry.Key.Phase)];
}
