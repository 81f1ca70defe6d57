using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace EarlyPipeProxy.Sessions.Outbound;

/// <summary>
/// Where a connection was going before netfilter redirected it to us. A legacy sender that cannot be told to use a
/// relay has its port-25 traffic sent to the proxy with <c>iptables -t nat ... -j REDIRECT --to-ports P</c>; the kernel
/// rewrites the destination, so the accepted socket only knows the proxy's own address, and the address the sender
/// meant is kept in the connection's conntrack entry. Linux hands it out through <c>getsockopt(SO_ORIGINAL_DST)</c>.
/// </summary>
public static class OriginalDestination
{
    // From linux/netfilter_ipv4.h and linux/netfilter_ipv6/ip6_tables.h; .NET has no names for them. Both ask the
    // same conntrack lookup, one per address family.
    private const int SolIp = 0;
    private const int SolIpv6 = 41;
    private const int SoOriginalDst = 80;
    private const int Ip6tSoOriginalDst = 80;

    // Linux values of sa_family: AddressFamily.InterNetworkV6 is 23 (the Windows value), the kernel writes 10.
    private const ushort AfInet = 2;
    private const ushort AfInet6 = 10;

    // sizeof(struct sockaddr_in) and sizeof(struct sockaddr_in6): the kernel refuses (EINVAL) a smaller buffer
    // and writes exactly this much, so asking for more would leave bytes it never touched in the result.
    private const int SockaddrInLength = 16;
    private const int SockaddrIn6Length = 28;

    /// <summary>
    /// The destination the client connected to before an iptables REDIRECT (or DNAT) sent the connection to this
    /// socket. False, never an exception, when there is none to tell: not Linux; a closed socket; a connection
    /// netfilter does not track (the kernel answers ENOENT, e.g. in a namespace with no NAT rules at all); or a tracked
    /// connection that was not redirected, for which the kernel answers with the socket's own local endpoint — once
    /// any NAT rule exists, conntrack tracks every connection, so that answer is the normal case for a client that
    /// connected to the proxy's port directly, and taken as a destination it would make the proxy connect to itself.
    /// </summary>
    /// <param name="socket">An accepted TCP socket (IPv4, IPv6, or dual-mode with an IPv4-mapped peer).</param>
    /// <param name="destination">
    /// The original destination; an IPv4 address for an IPv4 connection even on a dual-mode socket, because that is
    /// the address the outbound connection has to go to.
    /// </param>
    public static bool TryGet(Socket socket, [NotNullWhen(true)] out IPEndPoint? destination)
    {
        destination = null;
        if (!OperatingSystem.IsLinux())
        {
            // Option 80 means something else, or nothing, elsewhere; only Linux has the conntrack lookup.
            return false;
        }

        try
        {
            if (socket.LocalEndPoint is not IPEndPoint local || socket.RemoteEndPoint is not IPEndPoint remote)
            {
                return false;
            }

            // A dual-mode socket carrying IPv4 is an IPv4 connection to netfilter: its conntrack entry is IPv4 and only
            // the SOL_IP lookup finds it (the kernel routes SOL_IP on such a socket to the IPv4 code).
            var ipv4 = remote.AddressFamily == AddressFamily.InterNetwork || remote.Address.IsIPv4MappedToIPv6;
            Span<byte> buffer = stackalloc byte[SockaddrIn6Length];
            buffer = ipv4 ? buffer[..SockaddrInLength] : buffer;
            var written = ipv4
                ? socket.GetRawSocketOption(SolIp, SoOriginalDst, buffer)
                : socket.GetRawSocketOption(SolIpv6, Ip6tSoOriginalDst, buffer);
            if (!TryParse(buffer[..written], out var original) || !IsRedirected(original, local))
            {
                return false;
            }

            destination = original;
            return true;
        }
        catch (SocketException)
        {
            // ENOENT (not tracked), ENOPROTOOPT (no conntrack for this family in the kernel), ENOTCONN, ...: all mean
            // "no original destination to tell", which the caller handles as a direct connection.
            return false;
        }
        catch (ObjectDisposedException)
        {
            return false;
        }
    }

    /// <summary>
    /// Parses the <c>struct sockaddr_in</c> or <c>struct sockaddr_in6</c> that SO_ORIGINAL_DST writes: sa_family in
    /// host byte order, then the port in network byte order, then the address (for IPv6 after the 4-byte flow info,
    /// and followed by the scope id in host byte order). False for anything else, including port 0, which no TCP
    /// connection goes to (and which a zeroed buffer would otherwise pass for).
    /// </summary>
    internal static bool TryParse(ReadOnlySpan<byte> sockaddr, [NotNullWhen(true)] out IPEndPoint? destination)
    {
        destination = null;
        if (sockaddr.Length < 4)
        {
            return false;
        }

        var family = MemoryMarshal.Read<ushort>(sockaddr);
        int port = BinaryPrimitives.ReadUInt16BigEndian(sockaddr[2..]);
        if (port == 0)
        {
            return false;
        }

        switch (family)
        {
            case AfInet when sockaddr.Length >= 8:
                destination = new IPEndPoint(new IPAddress(sockaddr.Slice(4, 4)), port);
                return true;
            case AfInet6 when sockaddr.Length >= SockaddrIn6Length:
                var scopeId = MemoryMarshal.Read<uint>(sockaddr[24..]);
                destination = new IPEndPoint(new IPAddress(sockaddr.Slice(8, 16), scopeId), port);
                return true;
            default:
                return false;
        }
    }

    /// <summary>
    /// False when the "original" destination is the socket's own local endpoint: the client connected straight to the
    /// proxy. IPv4-mapped addresses (a dual-mode socket's view of an IPv4 connection) compare as IPv4.
    /// </summary>
    internal static bool IsRedirected(IPEndPoint original, IPEndPoint local) =>
        original.Port != local.Port || !Unmapped(original.Address).Equals(Unmapped(local.Address));

    private static IPAddress Unmapped(IPAddress address) =>
        address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
}
