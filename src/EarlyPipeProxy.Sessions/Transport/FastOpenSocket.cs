using System.Globalization;
using System.Net.Sockets;

namespace EarlyPipeProxy.Sessions.Transport;

/// <summary>
/// TCP Fast Open on a listening socket (RFC 7413, server side): TCP_FASTOPEN with the queue length as its value. The
/// kernel then takes a SYN's data from a client with a valid cookie, hands the connection to accept() at once and
/// lets the server write before the client's ACK arrives. Linux only; whether SYN data is taken at all is the
/// network namespace's net.ipv4.tcp_fastopen (the server bit, 0x2), which the option does not change.
/// </summary>
public static class FastOpenSocket
{
    /// <summary>The sysctl that decides, per network namespace, whether listeners take SYN data.</summary>
    public const string SysctlName = "net.ipv4.tcp_fastopen";

    /// <summary>Where this process's network namespace shows <see cref="SysctlName"/>.</summary>
    public const string SysctlPath = "/proc/sys/net/ipv4/tcp_fastopen";

    // include/uapi/linux/tcp.h: TCP_FASTOPEN at level IPPROTO_TCP (6).
    private const int TcpFastOpen = 23;

    // include/net/tcp.h: TFO_SERVER_ENABLE, the bit without which tcp_try_fastopen() ignores SYN data.
    private const int ServerEnableBit = 0x2;

    /// <summary>Sets the option (before or after listen()). Throws SocketException when the kernel refuses it.</summary>
    public static void Enable(Socket socket, int queueLength)
    {
        ArgumentNullException.ThrowIfNull(socket);
        ArgumentOutOfRangeException.ThrowIfLessThan(queueLength, 1);
        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException("TCP_FASTOPEN on a listening socket is set here on Linux only");
        }

        socket.SetRawSocketOption((int)SocketOptionLevel.Tcp, TcpFastOpen, BitConverter.GetBytes(queueLength));
    }

    /// <summary>The socket's Fast Open queue length as the kernel keeps it (0: off); Linux only.</summary>
    public static int QueueLength(Socket socket)
    {
        ArgumentNullException.ThrowIfNull(socket);
        var value = new byte[sizeof(int)];
        var length = socket.GetRawSocketOption((int)SocketOptionLevel.Tcp, TcpFastOpen, value);
        return length == sizeof(int) ? BitConverter.ToInt32(value) : 0;
    }

    /// <summary>
    /// Why listeners in this network namespace get no SYN data although Fast Open is set on them, or null when the
    /// kernel takes it (or when <paramref name="sysctlText"/>, the contents of <see cref="SysctlPath"/>, is null: no such
    /// file, nothing to say). The words name the sysctl, its value and the remedy.
    /// </summary>
    public static string? KernelRefusal(string? sysctlText)
    {
        if (sysctlText is null)
        {
            return null;
        }

        var text = sysctlText.Trim();
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value))
        {
            return $"{SysctlName} reads '{text}', not a number";
        }

        return (value & ServerEnableBit) != 0
            ? null
            : $"{SysctlName}={value} lacks the server bit 0x2, so the kernel ignores SYN data (set {SysctlName}={value | ServerEnableBit}, e.g. in /etc/sysctl.d)";
    }

    /// <summary>The contents of <see cref="SysctlPath"/> in this process's network namespace; null where there is none.</summary>
    public static string? ReadSysctl()
    {
        try
        {
            return OperatingSystem.IsLinux() ? File.ReadAllText(SysctlPath) : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
