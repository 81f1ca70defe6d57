using System.Net.Sockets;

namespace EarlyPipeProxy.Sessions.Transport;

/// <summary>
/// IP_TRANSPARENT (IPV6_TRANSPARENT on IPv6 sockets, the same flag in the kernel): a socket that may be bound to an
/// address that is not this host's (the backend connection from the client's own address), or a listening socket that
/// takes connections a TPROXY rule diverts to it. Linux only, and the kernel allows it only with CAP_NET_ADMIN.
/// </summary>
public static class TransparentSocket
{
    /// <summary>What an operator must know when the kernel refuses the option.</summary>
    public const string CapabilityHint = "IP_TRANSPARENT needs CAP_NET_ADMIN (systemd: AmbientCapabilities and CapabilityBoundingSet)";

    // include/uapi/linux/in.h: SOL_IP, IP_TRANSPARENT; include/uapi/linux/in6.h: SOL_IPV6, IPV6_TRANSPARENT.
    private const int SolIp = 0;
    private const int IpTransparent = 19;
    private const int SolIpv6 = 41;
    private const int Ipv6Transparent = 75;

    /// <summary>Sets the option. Throws SocketException when the kernel refuses it (EPERM without CAP_NET_ADMIN).</summary>
    public static void Enable(Socket socket)
    {
        ArgumentNullException.ThrowIfNull(socket);
        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException("IP_TRANSPARENT is Linux only");
        }

        var on = BitConverter.GetBytes(1);
        if (socket.AddressFamily == AddressFamily.InterNetworkV6)
        {
            socket.SetRawSocketOption(SolIpv6, Ipv6Transparent, on);
        }
        else
        {
            socket.SetRawSocketOption(SolIp, IpTransparent, on);
        }
    }
}
