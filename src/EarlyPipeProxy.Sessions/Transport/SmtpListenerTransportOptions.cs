using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;

namespace EarlyPipeProxy.Sessions.Transport;

/// <summary>The SMTP listeners' sockets (<see cref="SmtpListenerTransport"/>): how they are made, and their backlog.</summary>
public sealed class SmtpListenerTransportOptions
{
    /// <summary>
    /// Creates and binds a listening socket, before listen(): Kestrel's default (dual-mode for [::]) unless the listener
    /// wants more (IP_TRANSPARENT before the bind, TCP_FASTOPEN: Host's TransparentListeners and FastOpenListeners).
    /// </summary>
    public Func<EndPoint, Socket> CreateBoundListenSocket { get; set; } = SocketTransportOptions.CreateDefaultBoundListenSocket;

    /// <summary>listen()'s backlog: Kestrel's default.</summary>
    public int Backlog { get; set; } = 512;
}
