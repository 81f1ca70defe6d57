using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using EarlyPipeProxy.Sessions.Tests.TestSupport;
using EarlyPipeProxy.Sessions.Transport;
using EarlyPipeProxy.Sessions.Upstream;
using Microsoft.Extensions.Logging.Abstractions;

namespace EarlyPipeProxy.Sessions.Tests.Upstream;

/// <summary>
/// The upstream connection on its own socket pipe (<see cref="SocketPipe"/>), over real loopback sockets: replies
/// read, the watch of an idle server woken by its 421 and by its close, a reset met by a read and by a flush as the
/// connection lost, an abort seen by the server as a reset, a polite close as the end of what was sent.
/// </summary>
public sealed class SocketPipeTests
{
    private const int MaxLine = 2048;

    private static async Task<(UpstreamConnection Connection, Socket Server, TcpListener Listener)> ConnectAsync()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var accepting = listener.AcceptSocketAsync();
        using var connector = new SocketUpstreamConnector(NullLogger<SocketUpstreamConnector>.Instance);
        var connection = await connector.ConnectAsync((IPEndPoint)listener.LocalEndpoint, CancellationToken.None);
        var server = await accepting.WaitAsync(Wire.Patience);
        return (connection, server, listener);
    }

    private static async Task<string> ReceiveAllAsync(Socket server)
    {
        var text = new System.Text.StringBuilder();
        var buffer = new byte[4096];
        int received;
        while ((received = await server.ReceiveAsync(buffer).WaitAsync(Wire.Patience)) > 0)
        {
            text.Append(Wire.Text(buffer.AsSpan(0, received)));
        }

        return text.ToString();
    }

    [Fact]
    public async Task Replies_are_read_and_commands_reach_the_server()
    {
        var (connection, server, listener) = await ConnectAsync();
        using var _ = listener.Server;
        using var __ = server;
        await server.SendAsync(Wire.Bytes("220 mx ESMTP\r\n"));
        var banner = await connection.ReadReplyAsync(MaxLine, CancellationToken.None).AsTask().WaitAsync(Wire.Patience);
        Assert.Equal("220 mx ESMTP\r\n", Wire.Text(banner.Raw.ToArray()));
        connection.ReleaseReply();

        connection.Output.Write(Wire.Bytes("EHLO proxy\r\n"));
        await connection.FlushAsync(CancellationToken.None);
        await connection.DisposeAsync();

        Assert.Equal("EHLO proxy\r\n", await ReceiveAllAsync(server));
    }

    [Fact]
    public async Task The_watch_of_an_idle_server_is_woken_by_its_421_and_the_reply_is_read_whole()
    {
        var (connection, server, listener) = await ConnectAsync();
        using var _ = listener.Server;
        using var __ = server;
        var peer = new Pipe();
        connection.Watch(peer.Reader);
        var waiting = peer.Reader.ReadAsync().AsTask();
        await Task.Delay(50);
        Assert.False(waiting.IsCompleted);

        await server.SendAsync(Wire.Bytes("421 4.4.2 mx Error: timeout exceeded\r\n"));
        var woken = await waiting.WaitAsync(Wire.Patience);
        peer.Reader.AdvanceTo(woken.Buffer.Start);
        var spoke = await connection.EndWatchAsync().AsTask().WaitAsync(Wire.Patience);
        var reply = await connection.ReadReplyAsync(MaxLine, CancellationToken.None).AsTask().WaitAsync(Wire.Patience);

        Assert.True(woken.IsCanceled);
        Assert.True(spoke);
        Assert.Equal("421 4.4.2 mx Error: timeout exceeded\r\n", Wire.Text(reply.Raw.ToArray()));
        await connection.DisposeAsync();
    }

    [Fact]
    public async Task A_watch_ended_before_the_server_speaks_leaves_its_later_reply_to_the_next_read()
    {
        var (connection, server, listener) = await ConnectAsync();
        using var _ = listener.Server;
        using var __ = server;
        var peer = new Pipe();
        connection.Watch(peer.Reader);
        Assert.False(await connection.EndWatchAsync().AsTask().WaitAsync(Wire.Patience));

        await server.SendAsync(Wire.Bytes("250 ok\r\n"));
        var reply = await connection.ReadReplyAsync(MaxLine, CancellationToken.None).AsTask().WaitAsync(Wire.Patience);

        Assert.Equal("250 ok\r\n", Wire.Text(reply.Raw.ToArray()));
        await connection.DisposeAsync();
    }

    [Fact]
    public async Task A_server_that_closes_while_watched_wakes_the_peer_and_the_read_says_closed()
    {
        var (connection, server, listener) = await ConnectAsync();
        using var _ = listener.Server;
        var peer = new Pipe();
        connection.Watch(peer.Reader);
        var waiting = peer.Reader.ReadAsync().AsTask();

        server.Shutdown(SocketShutdown.Both);
        server.Dispose();
        var woken = await waiting.WaitAsync(Wire.Patience);
        peer.Reader.AdvanceTo(woken.Buffer.Start);

        Assert.True(await connection.EndWatchAsync().AsTask().WaitAsync(Wire.Patience));
        var failure = await Assert.ThrowsAsync<UpstreamUnavailableException>(
            () => connection.ReadReplyAsync(MaxLine, CancellationToken.None).AsTask().WaitAsync(Wire.Patience));
        Assert.Equal(UpstreamFailure.Closed, failure.Failure);
        await connection.DisposeAsync();
    }

    [Fact]
    public async Task A_reset_is_the_connection_lost_for_a_read_and_for_a_flush()
    {
        var (connection, server, listener) = await ConnectAsync();
        using var _ = listener.Server;
        server.LingerState = new LingerOption(true, 0);
        server.Dispose();

        var read = await Assert.ThrowsAsync<UpstreamUnavailableException>(
            () => connection.ReadReplyAsync(MaxLine, CancellationToken.None).AsTask().WaitAsync(Wire.Patience));
        Assert.Equal(UpstreamFailure.Closed, read.Failure);

        var flushFailure = await Assert.ThrowsAsync<UpstreamUnavailableException>(async () =>
        {
            // The first send after a reset may still be taken by the kernel; the next one meets the reset.
            for (var i = 0; i < 10; i++)
            {
                connection.Output.Write(Wire.Bytes("NOOP\r\n"));
                await connection.FlushAsync(CancellationToken.None).AsTask().WaitAsync(Wire.Patience);
                await Task.Delay(20);
            }
        });
        Assert.Equal(UpstreamFailure.Closed, flushFailure.Failure);
        await connection.AbortAsync();
    }

    [Fact]
    public async Task An_abort_reaches_the_server_as_a_reset_and_a_polite_close_as_the_end_of_what_was_sent()
    {
        var (aborted, abortedServer, listener1) = await ConnectAsync();
        using var _ = listener1.Server;
        using var __ = abortedServer;
        aborted.Output.Write(Wire.Bytes("DATA\r\nhalf a message"));
        await aborted.FlushAsync(CancellationToken.None);
        await aborted.AbortAsync();
        var reset = await Assert.ThrowsAnyAsync<SocketException>(() => ReceiveAllAsync(abortedServer));
        Assert.Equal(SocketError.ConnectionReset, reset.SocketErrorCode);

        var (polite, politeServer, listener2) = await ConnectAsync();
        using var ___ = listener2.Server;
        using var ____ = politeServer;
        polite.Output.Write(Wire.Bytes("QUIT\r\n"));
        await polite.DisposeAsync();
        Assert.Equal("QUIT\r\n", await ReceiveAllAsync(politeServer));
    }
}
