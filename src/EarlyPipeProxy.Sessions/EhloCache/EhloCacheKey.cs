using System.Globalization;
using System.Net;

namespace EarlyPipeProxy.Sessions.EhloCache;

/// <summary>
/// What an EHLO reply is cached under. Unlike Exim's key (remote address and port only) it includes the local source
/// address, because a server decides per client address whether to offer early pipelining, and the TLS phase.
/// IPv4-mapped IPv6 addresses are stored as IPv4, so a dual-stack socket and an IPv4 one find the same entry.
/// </summary>
public readonly record struct EhloCacheKey
{
    public EhloCacheKey(IPAddress localAddress, IPAddress remoteAddress, int remotePort, TlsPhase phase)
    {
        ArgumentNullException.ThrowIfNull(localAddress);
        ArgumentNullException.ThrowIfNull(remoteAddress);
        ArgumentOutOfRangeException.ThrowIfLessThan(remotePort, IPEndPoint.MinPort + 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(remotePort, IPEndPoint.MaxPort);
        if (!Enum.IsDefined(phase))
        {
            throw new ArgumentOutOfRangeException(nameof(phase));
        }

        LocalAddress = Normalize(localAddress);
        RemoteAddress = Normalize(remoteAddress);
        RemotePort = remotePort;
        Phase = phase;
    }

    public IPAddress LocalAddress { get; }

    /// <summary>The same server seen in another TLS phase.</summary>
    public EhloCacheKey WithPhase(TlsPhase phase) => new(LocalAddress, RemoteAddress, RemotePort, phase);

    public IPAddress RemoteAddress { get; }

    public int RemotePort { get; }

    public TlsPhase Phase { get; }

    /// <summary>The database id: '|' separates the parts because IPv6 addresses contain ':'.</summary>
    internal string StorageId => string.Create(CultureInfo.InvariantCulture, $"{LocalAddress}|{RemoteAddress}|{RemotePort}|{Phase}");

    /// <summary>"[remote]:port tls-phase from local", for logs and the CLI.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"[{RemoteAddress}]:{RemotePort} {Phase} from {LocalAddress}");

    private static IPAddress Normalize(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
}
