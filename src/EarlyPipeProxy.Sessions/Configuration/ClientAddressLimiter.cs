using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace EarlyPipeProxy.Sessions.Configuration;

/// <summary>
/// A listener's per-client-address limits: connections open at once (<see cref="ListenerLimits.MaxConnectionsPerAddress"/>)
/// and attempts per minute (<see cref="ListenerLimits.MaxConnectionsPerAddressPerMinute"/>, a fixed window per address
/// as Postfix's anvil keeps it). An IPv6 client counts by its /64, the smallest network one site is usually given:
/// otherwise one host could take as many addresses as it likes.
/// </summary>
/// <remarks>
/// The table stays small whatever connects. An address is only added when it is admitted, after the listener's own
/// cap (<see cref="ConnectionSlots"/>) let the connection in, so addresses with connections open are at most
/// <see cref="ListenerLimits.MaxConnections"/>; an address whose last connection closed stays only to remember its rate,
/// until its minute is over, and only while fewer than <see cref="MaxRememberedAddresses"/> entries are held. One short
/// lock guards it: an admission is a dictionary lookup and a few integers, far below the cost of the accept itself.
/// </remarks>
public sealed class ClientAddressLimiter
{
    /// <summary>
    /// Entries kept past their last connection to remember a rate (about 100 octets each). More distinct addresses a
    /// minute than this and the newest are forgotten as soon as they close: the rate limit loses them, the caps do not.
    /// </summary>
    public const int MaxRememberedAddresses = 16384;

    /// <summary>The rate's window (Postfix's anvil_rate_time_unit).</summary>
    public static readonly TimeSpan RateWindow = TimeSpan.FromMinutes(1);

    private const int Ipv6PrefixBits = 64;

    private readonly Dictionary<UInt128, Entry> _entries = [];
    private readonly Lock _lock = new();
    private readonly TimeProvider _time;
    private Policy _policy;
    private long _lastSweep;

    public ClientAddressLimiter(ListenerLimits limits, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(limits);
        _policy = Policy.Of(limits);
        _time = time ?? TimeProvider.System;
        _lastSweep = _time.GetTimestamp();
    }

    public int MaxConnectionsPerAddress => Volatile.Read(ref _policy).MaxOpen;

    public int MaxConnectionsPerAddressPerMinute => Volatile.Read(ref _policy).MaxPerWindow;

    /// <summary>Addresses held now (open connections or a remembered rate); for tests and their bound.</summary>
    public int TrackedAddresses
    {
        get
        {
            lock (_lock)
            {
                return _entries.Count;
            }
        }
    }

    /// <summary>Counts a connection attempt from <paramref name="address"/> and decides it.</summary>
    public ClientAdmission Admit(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        var policy = Volatile.Read(ref _policy);
        if ((policy.MaxOpen == 0 && policy.MaxPerWindow == 0) || policy.Exceptions.Contains(address))
        {
            return ClientAdmission.Exempt;
        }

        var key = KeyOf(address);
        var now = _time.GetTimestamp();
        lock (_lock)
        {
            SweepIfDue(now);
            if (!_entries.TryGetValue(key, out var entry))
            {
                entry = new Entry { WindowStart = now };
                _entries.Add(key, entry);
            }
            else if (_time.GetElapsedTime(entry.WindowStart, now) >= RateWindow)
            {
                entry.WindowStart = now;
                entry.Attempts = 0;
            }

            // A new entry is always admitted (one attempt, nothing open), so refusals never add one.
            entry.Attempts++;
            if (policy.MaxPerWindow > 0 && entry.Attempts > policy.MaxPerWindow)
            {
                return ClientAdmission.RateExceeded;
            }

            if (policy.MaxOpen > 0 && entry.Open >= policy.MaxOpen)
            {
                return ClientAdmission.TooManyConnections;
            }

            entry.Open++;
            return ClientAdmission.Admitted;
        }
    }

    /// <summary>
    /// New limits (a reload): the counts held stay, so connections open now count against the new cap, and the next
    /// attempt from an address is decided by it. An address that became an exception is not counted from now on; its
    /// connections admitted before are still released.
    /// </summary>
    public void Update(ListenerLimits limits)
    {
        ArgumentNullException.ThrowIfNull(limits);
        Volatile.Write(ref _policy, Policy.Of(limits));
    }

    /// <summary>Ends a connection that <see cref="Admit"/> admitted.</summary>
    public void Release(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        var key = KeyOf(address);
        var now = _time.GetTimestamp();
        lock (_lock)
        {
            if (!_entries.TryGetValue(key, out var entry))
            {
                return;
            }

            entry.Open--;
            if (entry.Open == 0 && !Remembered(entry, now))
            {
                _entries.Remove(key);
            }
        }
    }

    /// <summary>The address's key: an IPv4 address (also IPv4-mapped) whole, an IPv6 address by its /64.</summary>
    internal static UInt128 KeyOf(IPAddress address)
    {
        Span<byte> bytes = stackalloc byte[16];
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            // The IPv4-mapped form, so that a dual-stack listener's ::ffff:a.b.c.d is the same client.
            bytes[..10].Clear();
            bytes[10] = 0xff;
            bytes[11] = 0xff;
            address.TryWriteBytes(bytes[12..], out _);
            return BinaryPrimitives.ReadUInt128BigEndian(bytes);
        }

        address.TryWriteBytes(bytes, out _);
        var whole = BinaryPrimitives.ReadUInt128BigEndian(bytes);
        return address.IsIPv4MappedToIPv6 ? whole : whole >> (128 - Ipv6PrefixBits) << (128 - Ipv6PrefixBits);
    }

    /// <summary>Whether an entry with nothing open is still worth its memory: its minute is running and there is room.</summary>
    private bool Remembered(Entry entry, long now) =>
        Volatile.Read(ref _policy).MaxPerWindow > 0 && _entries.Count <= MaxRememberedAddresses && _time.GetElapsedTime(entry.WindowStart, now) < RateWindow;

    /// <summary>Once a window, drops the entries with nothing open whose minute is over (each would be reset anyway).</summary>
    private void SweepIfDue(long now)
    {
        if (_time.GetElapsedTime(_lastSweep, now) < RateWindow)
        {
            return;
        }

        _lastSweep = now;
        foreach (var (key, entry) in _entries)
        {
            if (entry.Open == 0 && _time.GetElapsedTime(entry.WindowStart, now) >= RateWindow)
            {
                _entries.Remove(key);
            }
        }
    }

    /// <summary>The limits in force, replaced whole so that one admission reads one set.</summary>
    private sealed record Policy(int MaxOpen, int MaxPerWindow, AddressList Exceptions)
    {
        public static Policy Of(ListenerLimits limits) => new(
            limits.MaxConnectionsPerAddress,
            limits.MaxConnectionsPerAddressPerMinute,
            AddressList.Parse(limits.AddressLimitExceptions ?? ["127.0.0.0/8", "::1"]));
    }

    private sealed class Entry
    {
        public long WindowStart;
        public int Attempts;
        public int Open;
    }
}
