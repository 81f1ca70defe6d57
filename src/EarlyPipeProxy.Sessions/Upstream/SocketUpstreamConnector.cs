using System.Net;
using System.Net.Sockets;
using EarlyPipeProxy.Sessions.Transport;
using Microsoft.Extensions.Logging;

namespace EarlyPipeProxy.Sessions.Upstream;

/// <summary>
/// TCP connections to upstream servers, each a <see cref="SocketPipe"/>: the same pipe abstraction as the client side,
/// without Kestrel's per-connection transport (two pipes, a send loop, a connection context), since an idle
/// session holds its upstream connection for as long as the client idles.
/// </summary>
public sealed class SocketUpstreamConnector : IUpstreamConnector, IDisposable
{
    public SocketUpstreamConnector(ILogger<SocketUpstreamConnector> logger)
        // Kept for the callers (dependency injection): nothing is logged here yet.
        => ArgumentNullException.ThrowIfNull(logger);

    // Linux's TCP_FASTOPEN_CONNECT (include/uapi/linux/tcp.h): connect() returns at once and the SYN leaves with the
    // first write, carrying it when the kernel has a cookie for the remote and falling back to a plain handshake when not.
    private const int TcpFastOpenConnect = 30;

    // TCP_FASTOPEN_NO_COOKIE (Linux ≥ 4.15): send the flight in the SYN even without a cookie. A server without TFO
    // acknowledges only the SYN, and the kernel itself resends the flight right after the handshake; either way
    // it is there before the remote's banner, with no wait for this process to be scheduled after connect. Safe to
    // replay because a flight is only EHLO, MAIL and RCPT, never message data.
    private const int TcpFastOpenNoCookie = 34;

    public ValueTask<UpstreamConnection> ConnectAsync(IPEndPoint endPoint, CancellationToken cancellationToken)
        => ConnectAsync(endPoint, source: null, fastOpen: false, firstFlight: default, cancellationToken);

    public async ValueTask<UpstreamConnection> ConnectAsync(IPEndPoint endPoint, IPAddress? source, bool fastOpen, ReadOnlyMemory<byte> firstFlight, CancellationToken cancellationToken)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            if (source is not null)
            {
                socket.Bind(new IPEndPoint(source, 0));
            }

            if (fastOpen && OperatingSystem.IsLinux())
            {
                TryEnableFastOpen(socket);
            }

            await socket.ConnectAsync(endPoint, cancellationToken);
            if (!firstFlight.IsEmpty)
            {
                // Straight onto the socket, synchronously (a few hundred octets into an empty send buffer never
                // block): the flight must not wait for the pipe machinery or an async send path to warm up.
                socket.Send(firstFlight.Span);

                // With Fast Open, connect() returned before the handshake and the SYN left with the flight; the
                // connection exists once the server has answered. Its first bytes (the banner) say so: a zero-byte
                // receive waits for them without taking any, and fails if the server refused the connection.
                await socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None, cancellationToken);
            }
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException)
        {
            socket.Dispose();
            throw new UpstreamUnavailableException(UpstreamFailure.Unreachable, $"cannot connect to {endPoint}: {ex.Message}", ex);
        }

        return Wrap(socket, endPoint);
    }

    public async ValueTask<UpstreamConnection> ConnectTransparentAsync(IPEndPoint endPoint, IPEndPoint? source, CancellationToken cancellationToken)
    {
        if (source is not null && source.AddressFamily != endPoint.AddressFamily)
        {
            throw new UpstreamUnavailableException(UpstreamFailure.Unreachable,
                $"cannot connect to {endPoint} from the client's address {source.Address}: another address family (Backend:ClientIdentity Transparent)");
        }

        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            Transport.TransparentSocket.Enable(socket);
        }
        catch (Exception ex) when (ex is SocketException or PlatformNotSupportedException)
        {
            socket.Dispose();
            var how = source is null ? "with IP_TRANSPARENT" : "from the client's address";
            throw new UpstreamUnavailableException(UpstreamFailure.Unreachable,
                $"cannot connect to {endPoint} {how}: {ex.Message} ({Transport.TransparentSocket.CapabilityHint})", ex);
        }

        try
        {
            if (source is not null)
            {
                BindTransparently(socket, source);
            }

            await socket.ConnectAsync(endPoint, cancellationToken);
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException)
        {
            socket.Dispose();
            var from = source is null ? string.Empty : $" from {source.Address}";
            throw new UpstreamUnavailableException(UpstreamFailure.Unreachable, $"cannot connect to {endPoint}{from}: {ex.Message}", ex);
        }

        return Wrap(socket, endPoint);
    }

    /// <summary>
    /// Binds to the client's own address and port, so that the backend's log shows both as they are; the port is left to
    /// the kernel when it is taken on this host (the client is local, or an earlier connection from it is still in
    /// TIME_WAIT here).
    /// </summary>
    private static void BindTransparently(Socket socket, IPEndPoint source)
    {
        try
        {
            socket.Bind(source);
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.AddressAlreadyInUse && source.Port != 0)
        {
            socket.Bind(new IPEndPoint(source.Address, 0));
        }
    }

    /// <summary>The connected socket as a pipe (<see cref="SocketPipe"/>), with the close that goes with it.</summary>
    private static UpstreamConnection Wrap(Socket socket, IPEndPoint endPoint)
    {
        EndPoint? local;
        try
        {
            local = socket.LocalEndPoint;
        }
        catch (SocketException ex)
        {
            // The connection went away between the handshake and now.
            socket.Dispose();
            throw new UpstreamUnavailableException(UpstreamFailure.Closed, $"connection to {endPoint} lost: {ex.Message}", ex);
        }

        return new UpstreamConnection(new SocketPipe(socket), endPoint) { LocalEndPoint = local };
    }

    public void Dispose()
    {
        // Nothing pooled is left to release: each connection owns its socket and buffers (SocketPipe).
    }

    private static void TryEnableFastOpen(Socket socket)
    {
        try
        {
            socket.SetRawSocketOption((int)SocketOptionLevel.Tcp, TcpFastOpenConnect, BitConverter.GetBytes(1));
            socket.SetRawSocketOption((int)SocketOptionLevel.Tcp, TcpFastOpenNoCookie, BitConverter.GetBytes(1));
        }
        catch (SocketException)
        {
            // An older kernel or one built without TFO: the connection is made the ordinary way.
        }
    }
}
