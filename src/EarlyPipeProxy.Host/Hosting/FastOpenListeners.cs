using System.Net;
using System.Net.Sockets;
using EarlyPipeProxy.Sessions.Configuration;
using EarlyPipeProxy.Sessions.Logging;
using EarlyPipeProxy.Sessions.Transport;

namespace EarlyPipeProxy.Host.Hosting;

/// <summary>
/// Inbound listeners with FastOpen (the default): the SMTP listeners' transport (SmtpListenerTransport) gets their listening sockets with
/// TCP_FASTOPEN set before listen(), so that a client with the kernel's cookie sends its early flight in the SYN. The
/// kernel hands such a connection to accept() at once and lets the session write its banner and replies before the
/// client's ACK: nothing here waits for the handshake. Never a reason not to start: a kernel that refuses the option,
/// or one whose net.ipv4.tcp_fastopen takes no SYN data, is logged once and the listener runs with the plain handshake.
/// Wraps whatever creates the sockets before it (<see cref="TransparentListeners"/>), so both options can apply.
/// </summary>
public static partial class FastOpenListeners
{
    public static IWebHostBuilder UseFastOpenListeners(this IWebHostBuilder builder, IReadOnlyList<InboundListener> listeners)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(listeners);
        if (!listeners.Any(IsFastOpen) || !OperatingSystem.IsLinux())
        {
            return builder;
        }

        return builder.ConfigureServices(services => services.AddOptions<SmtpListenerTransportOptions>().Configure<ILoggerFactory>((sockets, loggers) =>
        {
            var logger = loggers.CreateLogger(typeof(FastOpenListeners).FullName!);
            var takesSynData = WarnIfKernelRefuses(listeners, FastOpenSocket.ReadSysctl(), logger);
            sockets.CreateBoundListenSocket = Wrap(sockets.CreateBoundListenSocket, listeners, takesSynData, logger);
        }));
    }

    /// <summary>
    /// Says once, naming the listeners and the sysctl, when the kernel takes no SYN data although Fast Open is on.
    /// True when it does take it (or nothing can be said: <paramref name="sysctl"/> is null).
    /// </summary>
    public static bool WarnIfKernelRefuses(IReadOnlyList<InboundListener> listeners, string? sysctl, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(listeners);
        ArgumentNullException.ThrowIfNull(logger);
        if (FastOpenSocket.KernelRefusal(sysctl) is not { } refusal)
        {
            return true;
        }

        LogKernelRefuses(logger, string.Join(',', listeners.Where(IsFastOpen).Select(l => l.Name)), refusal);
        return false;
    }

    /// <summary>
    /// <paramref name="inner"/>, then TCP_FASTOPEN on the socket when its address is a Fast Open listener's. A kernel that
    /// refuses the option is logged for that listener; the socket is returned as it is.
    /// </summary>
    public static Func<EndPoint, Socket> Wrap(Func<EndPoint, Socket> inner, IReadOnlyList<InboundListener> listeners, bool takesSynData, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(listeners);
        ArgumentNullException.ThrowIfNull(logger);
        // By address, as Kestrel hands it over; two listeners on one address cannot both be opened anyway.
        var fastOpen = listeners.Where(IsFastOpen).GroupBy(l => l.ListenEndPoint).ToDictionary(g => g.Key, g => g.First());
        return endPoint =>
        {
            var socket = inner(endPoint);
            if (endPoint is not IPEndPoint address || !fastOpen.TryGetValue(address, out var listener))
            {
                return socket;
            }

            var queue = listener.Options.FastOpenQueueLength;
            try
            {
                FastOpenSocket.Enable(socket, queue);
            }
            catch (SocketException ex)
            {
                LogNotSet(logger, listener.Name, ex.Message);
                return socket;
            }

            if (takesSynData)
            {
                LogOn(logger, listener.Name, address.ToString(), queue);
            }

            return socket;
        };
    }

    private static bool IsFastOpen(InboundListener listener) => listener.Options.FastOpen && listener.Problem is null;

    [LoggerMessage(EventId = LogEventIds.FastOpenKernelRefuses, Level = LogLevel.Warning,
        Message = "TCP Fast Open I={Listeners} is configured but {Refusal}: clients get the ordinary handshake (FastOpen false silences this)")]
    private static partial void LogKernelRefuses(ILogger logger, string listeners, string refusal);

    [LoggerMessage(EventId = LogEventIds.FastOpenNotSet, Level = LogLevel.Warning,
        Message = "TCP Fast Open I={Listener}: the kernel refuses TCP_FASTOPEN on the listening socket ({Reason}): clients get the ordinary handshake")]
    private static partial void LogNotSet(ILogger logger, string listener, string reason);

    [LoggerMessage(EventId = LogEventIds.FastOpenOn, Level = LogLevel.Information,
        Message = "TCP Fast Open I={Listener} on {Listen}: SYN data taken from clients with a cookie, queue {Queue}")]
    private static partial void LogOn(ILogger logger, string listener, string listen, int queue);
}
