using System.Net;
using System.Net.Sockets;
using EarlyPipeProxy.Sessions.Configuration;
using EarlyPipeProxy.Sessions.Transport;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;

namespace EarlyPipeProxy.Host.Hosting;

/// <summary>
/// Inbound listeners with Transparent: the SMTP listeners' transport (SmtpListenerTransport) gets their listening sockets with IP_TRANSPARENT set
/// before bind, so that it accepts connections a TPROXY rule diverts to them (a connection's local endpoint is then
/// the address its client connected to: the backend's). Every other listening socket is Kestrel's own.
/// </summary>
public static class TransparentListeners
{
    public static IWebHostBuilder UseTransparentListeners(this IWebHostBuilder builder, IReadOnlyList<InboundListener> listeners)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(listeners);
        var transparent = listeners.Where(l => l.Options.Transparent && l.Problem is null).ToDictionary(l => l.ListenEndPoint, l => l.Name);
        if (transparent.Count == 0)
        {
            return builder;
        }

        return builder.ConfigureServices(services => services.Configure<SmtpListenerTransportOptions>(sockets => sockets.CreateBoundListenSocket = endPoint =>
            endPoint is IPEndPoint address && transparent.TryGetValue(address, out var name)
                ? CreateListenSocket(address, name)
                : SocketTransportOptions.CreateDefaultBoundListenSocket(endPoint)));
    }

    /// <summary>What Kestrel's default does for an address (a dual-mode socket for [::]), with IP_TRANSPARENT before the bind.</summary>
    private static Socket CreateListenSocket(IPEndPoint endPoint, string listener)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (endPoint.Address.Equals(IPAddress.IPv6Any))
            {
                socket.DualMode = true;
            }

            try
            {
                TransparentSocket.Enable(socket);
            }
            catch (SocketException ex)
            {
                // Not a bind failure Kestrel would name: the key and the remedy, for the one-line start failure (which
                // would repeat the kernel's words once more from an inner exception).
                throw new IOException($"Inbound listener '{listener}' Transparent: {ex.Message} ({TransparentSocket.CapabilityHint})");
            }

            socket.Bind(endPoint);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}
