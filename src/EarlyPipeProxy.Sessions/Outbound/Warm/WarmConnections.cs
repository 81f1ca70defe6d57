using EarlyPipeProxy.Protocol.Capabilities;
using EarlyPipeProxy.Sessions.Configuration;
using EarlyPipeProxy.Sessions.EhloCache;

namespace EarlyPipeProxy.Sessions.Outbound.Warm;

/// <summary>
/// An outbound listener's cache of warm remote connections (Postfix's scache, Exim's continued connections): a session
/// that ends with its remote connection clean parks it here, reset, and the next session to that remote in the same TLS
/// phase, TLS policy and EHLO name takes it instead of connecting (<see cref="WarmReuse"/>). Bounded in total and per
/// remote (ConnectionCache:MaxConnections, MaxConnectionsPerDestination); the newest parked connection is taken first,
/// so the older ones reach their idle timeout. Every parked connection is watched (<see cref="ParkedConnection"/>) and
/// dropped as soon as the remote closes it or speaks. Thread-safe: sessions park and take concurrently.
/// </summary>
public sealed class WarmConnections
{
    private readonly Func<ConnectionCacheOptions> _options;
    private readonly Lock _gate = new();
    private readonly Dictionary<WarmKey, List<ParkedConnection>> _parked = [];

    // Parked and reserved (a session between its RSET and the park), per remote and in all.
    private readonly Dictionary<EhloCacheKey, int> _held = [];
    private int _total;
    private bool _closed;

    /// <param name="options">The options in force now (a reload changes them; each use reads them again).</param>
    /// <param name="time">The clock of idle timeouts and connection ages.</param>
    public WarmConnections(Func<ConnectionCacheOptions> options, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        Time = time ?? TimeProvider.System;
    }

    public ConnectionCacheOptions Options => _options();

    public TimeProvider Time { get; }

    /// <summary>Connections parked (and about to be) now.</summary>
    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _total;
            }
        }
    }

    /// <summary>
    /// Ends the cache, at the proxy's stop: every parked connection gets QUIT and is closed, and nothing is parked any
    /// more (a session ending later closes its connection as without the cache).
    /// </summary>
    public async ValueTask CloseAsync()
    {
        List<ParkedConnection> all;
        lock (_gate)
        {
            _closed = true;
            all = [.. _parked.Values.SelectMany(list => list)];
            _parked.Clear();
            _held.Clear();
            _total = 0;
        }

        foreach (var parked in all)
        {
            parked.Take();
            var end = await parked.Watch;
            await parked.DropAsync(end == ParkedEnd.Taken ? ParkedEnd.Stopping : end);
        }
    }

    /// <summary>A place for one more connection to <paramref name="destination"/>; false when the cache is off, stopping or full.</summary>
    internal bool TryReserve(EhloCacheKey destination)
    {
        var options = Options;
        lock (_gate)
        {
            var held = _held.GetValueOrDefault(destination);
            if (_closed || !options.Enabled || _total >= options.MaxConnections || held >= options.MaxConnectionsPerDestination)
            {
                return false;
            }

            _held[destination] = held + 1;
            _total++;
            return true;
        }
    }

    /// <summary>A reservation not used (the RSET failed): its place is free again.</summary>
    internal void Unreserve(EhloCacheKey destination)
    {
        lock (_gate)
        {
            Forget(destination);
        }
    }

    /// <summary>Parks a connection whose place was reserved, and starts its watch.</summary>
    internal void Park(ParkedConnection parked)
    {
        lock (_gate)
        {
            if (!_closed)
            {
                if (!_parked.TryGetValue(parked.Key, out var list))
                {
                    list = [];
                    _parked[parked.Key] = list;
                }

                list.Add(parked);
                parked.StartWatch(EndedAsync);
                return;
            }
        }

        // Stopped between the reservation and now: the connection is closed as without the cache.
        parked.StartWatch(EndedAsync);
        parked.Take();
        _ = DropAfterWatchAsync(parked);
    }

    /// <summary>The capabilities of the newest connection parked under a key <paramref name="match"/> accepts, without taking it.</summary>
    internal EhloCapabilities? Peek(Func<WarmKey, bool> match)
    {
        if (!Options.Enabled)
        {
            return null;
        }

        lock (_gate)
        {
            foreach (var (key, list) in _parked)
            {
                if (list.Count > 0 && match(key))
                {
                    return list[^1].Warm.Capabilities;
                }
            }
        }

        return null;
    }

    /// <summary>
    /// Takes the newest connection parked under the first of <paramref name="keys"/> that has one, and still good: one
    /// that ended its wait meanwhile (closed, 421, timed out) is dropped and the next is tried. Null when there is none.
    /// The caller owns the connection; its RSET may still be unanswered (<see cref="WarmConnection.ResetPending"/>).
    /// </summary>
    internal async ValueTask<WarmConnection?> TakeAsync(IReadOnlyList<WarmKey> keys)
    {
        if (!Options.Enabled)
        {
            return null;
        }

        while (TakeNewest(keys) is { } parked)
        {
            parked.Take();
            var end = await parked.Watch;
            if (end == ParkedEnd.Taken && !TooOld(parked.Warm))
            {
                parked.Release();
                return parked.Warm;
            }

            await parked.DropAsync(end == ParkedEnd.Taken ? ParkedEnd.IdleTimeout : end);
        }

        return null;
    }

    /// <summary>Whether a connection is past ConnectionCache:MaxAge.</summary>
    internal bool TooOld(WarmConnection warm) => Time.GetElapsedTime(warm.ConnectedAt) >= Options.MaxAge;

    private ParkedConnection? TakeNewest(IReadOnlyList<WarmKey> keys)
    {
        lock (_gate)
        {
            foreach (var key in keys)
            {
                if (_parked.TryGetValue(key, out var list) && list.Count > 0)
                {
                    var parked = list[^1];
                    list.RemoveAt(list.Count - 1);
                    Remove(parked.Key, list);
                    return parked;
                }
            }
        }

        return null;
    }

    /// <summary>A watch that ended on its own: the connection is dropped, unless a session took it out meanwhile (then the session drops it).</summary>
    private async ValueTask EndedAsync(ParkedConnection parked, ParkedEnd end)
    {
        lock (_gate)
        {
            if (!_parked.TryGetValue(parked.Key, out var list) || !list.Remove(parked))
            {
                return;
            }

            Remove(parked.Key, list);
        }

        await parked.DropAsync(end);
    }

    private static async Task DropAfterWatchAsync(ParkedConnection parked)
    {
        var end = await parked.Watch;
        await parked.DropAsync(end == ParkedEnd.Taken ? ParkedEnd.Stopping : end);
    }

    private void Remove(WarmKey key, List<ParkedConnection> list)
    {
        if (list.Count == 0)
        {
            _parked.Remove(key);
        }

        Forget(key.Destination);
    }

    private void Forget(EhloCacheKey destination)
    {
        if (_held.TryGetValue(destination, out var held))
        {
            if (held <= 1)
            {
                _held.Remove(destination);
            }
            else
            {
                _held[destination] = held - 1;
            }

            _total--;
        }
    }
}
