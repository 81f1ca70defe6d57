using System.Net.Sockets;

namespace EarlyPipeProxy.Sessions.Telemetry;

/// <summary>The kernel's smoothed round-trip time of a TCP connection (Linux TCP_INFO), to turn round trips into seconds.</summary>
public static class TcpRoundTrip
{
    // include/uapi/linux/tcp.h: TCP_INFO = 11; struct tcp_info has tcpi_rtt (microseconds, u32) at byte 68.
    private const int TcpInfo = 11;
    private const int RttOffset = 68;

    /// <summary>The smoothed RTT, or null where the kernel cannot say (not Linux, closed socket, no sample yet).</summary>
    public static TimeSpan? Measure(Socket? socket)
    {
        if (socket is null || !OperatingSystem.IsLinux())
        {
            return null;
        }

        Span<byte> info = stackalloc byte[104];
        try
        {
            var length = socket.GetRawSocketOption((int)SocketOptionLevel.Tcp, TcpInfo, info);
            if (length < RttOffset + 4)
            {
                return null;
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            return null;
        }

        var microseconds = BitConverter.ToUInt32(info.Slice(RttOffset, 4));
        return microseconds == 0 ? null : TimeSpan.FromMicroseconds(microseconds);
    }
}
