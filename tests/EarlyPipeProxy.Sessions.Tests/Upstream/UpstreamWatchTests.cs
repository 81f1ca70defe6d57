using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using EarlyPipeProxy.Sessions.Tests.TestSupport;
using EarlyPipeProxy.Sessions.Upstream;

namespace EarlyPipeProxy.Sessions.Tests.Upstream;

/// <summary>
/// The watch of an idle upstream (<see cref="UpstreamConnection.Watch"/>): what it sees wakes the peer's read, and
/// ending it hands the input back whole, whichever side of the ending a reply arrives on. Both schedulers a
/// connection's pipe has in the proxy: inline (Kestrel's sockets) and the thread pool (the TLS layer's pipe).
/// </summary>
public sealed class UpstreamWatchTests
{
    private const int MaxLine = 2048;

    public static TheoryData<bool> Schedulers() => new() { true, false };

    private static (UpstreamConnection Connection, PipeWriter Server, Pipe Peer) Connect(bool inline)
    {
        var scheduler = inline ? PipeScheduler.Inline : PipeScheduler.ThreadPool;
        var options = new PipeOptions(readerScheduler: scheduler, writerScheduler: scheduler, pauseWriterThreshold: 0, resumeWriterThreshold: 0,
            useSynchronizationContext: false);
        var fromServer = new Pipe(options);
        var toServer = new Pipe(options);
        var connection = new UpstreamConnection(new DuplexPipe(fromServer.Reader, toServer.Writer), new IPEndPoint(IPAddress.Loopback, 25),
            _ => ValueTask.CompletedTask);
        return (connection, fromServer.Writer, new Pipe(options));
    }

    [Theory]
    [MemberData(nameof(Schedulers))]
    public async Task A_reply_while_watched_wakes_the_peers_read(bool inline)
    {
        var (connection, server, peer) = Connect(inline);
        connection.Watch(peer.Reader);
        var waiting = peer.Reader.ReadAsync().AsTask();

        await server.WriteAsync(Wire.Bytes("421 4.4.2 mx Error: timeout exceeded\r\n"));
        var woken = await waiting.WaitAsync(Wire.Patience);
        peer.Reader.AdvanceTo(woken.Buffer.Start);
        var spoke = await connection.EndWatchAsync();
        var reply = await connection.ReadReplyAsync(MaxLine, CancellationToken.None);

        Assert.True(woken.IsCanceled);
        Assert.True(spoke);
        Assert.Equal("421 4.4.2 mx Error: timeout exceeded\r\n", Wire.Text(reply.Raw.ToArray()));
    }

    [Theory]
    [MemberData(nameof(Schedulers))]
    public async Task A_session_resumed_by_the_wake_itself_ends_the_watch_and_reads_the_reply(bool inline)
    {
        // Kestrel's inline scheduling: the wake resumes the session on the thread that delivered the reply, inside
        // the watch's own completion, and the session ends the watch before the watch has finished. The cancel that
        // ending sends then finds no read under way and would wait for the session's next one: a reply still
        // incomplete would be taken for a closed connection.
        var (connection, server, peer) = Connect(inline);
        connection.Watch(peer.Reader);
        var session = ResumeAndReadAsync(connection, peer.Reader);

        // Half a reply first: the read that follows must wait for the rest, not come back cancelled.
        await server.WriteAsync(Wire.Bytes("421 4.3.2 Service"));
        await Task.Delay(50);
        await server.WriteAsync(Wire.Bytes(" shutting down\r\n"));
        var (woken, spoke, reply) = await session.WaitAsync(Wire.Patience);

        Assert.True(woken);
        Assert.True(spoke);
        Assert.Equal("421 4.3.2 Service shutting down\r\n", reply);
    }

    private static async Task<(bool Woken, bool Spoke, string Reply)> ResumeAndReadAsync(UpstreamConnection connection, PipeReader peer)
    {
        var woken = await peer.ReadAsync();
        peer.AdvanceTo(woken.Buffer.Start);
        var spoke = await connection.EndWatchAsync();
        var reply = await connection.ReadReplyAsync(MaxLine, CancellationToken.None);
        return (woken.IsCanceled, spoke, Wire.Text(reply.Raw.ToArray()));
    }

    [Theory]
    [MemberData(nameof(Schedulers))]
    public async Task A_close_while_watched_wakes_the_peers_read(bool inline)
    {
        var (connection, server, peer) = Connect(inline);
        connection.Watch(peer.Reader);
        var waiting = peer.Reader.ReadAsync().AsTask();

        await server.CompleteAsync();
        var woken = await waiting.WaitAsync(Wire.Patience);
        peer.Reader.AdvanceTo(woken.Buffer.Start);

        Assert.True(woken.IsCanceled);
        Assert.True(await connection.EndWatchAsync());
    }

    [Theory]
    [MemberData(nameof(Schedulers))]
    public async Task Input_already_there_when_the_watch_starts_wakes_the_next_read_at_once(bool inline)
    {
        var (connection, server, peer) = Connect(inline);
        await server.WriteAsync(Wire.Bytes("250 2.0.0 unsolicited\r\n"));

        connection.Watch(peer.Reader);
        var woken = await peer.Reader.ReadAsync().AsTask().WaitAsync(Wire.Patience);
        peer.Reader.AdvanceTo(woken.Buffer.Start);

        Assert.True(woken.IsCanceled);
        Assert.True(await connection.EndWatchAsync());
    }

    [Theory]
    [MemberData(nameof(Schedulers))]
    public async Task Ending_the_watch_as_a_reply_arrives_loses_nothing_and_wakes_nobody_later(bool inline)
    {
        var (connection, server, peer) = Connect(inline);
        for (var i = 0; i < 2000; i++)
        {
            var text = $"250 2.0.0 reply {i}\r\n";
            connection.Watch(peer.Reader);
            var sending = Task.Run(async () => await server.WriteAsync(Wire.Bytes(text)));
            if (i % 2 == 0)
            {
                await Task.Yield();
            }

            var spoke = await connection.EndWatchAsync();
            await sending;

            // Whichever side of the end the reply arrived on, the next read of the upstream gets it whole: no cancel
            // the watch issued is left for it, and nothing was consumed.
            var reply = await connection.ReadReplyAsync(MaxLine, CancellationToken.None).AsTask().WaitAsync(Wire.Patience);
            Assert.Equal(text, Wire.Text(reply.Raw.ToArray()));
            connection.ReleaseReply();

            // Only a watch that saw the reply may have woken the peer's read; one that did not must leave it alone.
            if (peer.Reader.TryRead(out var wake))
            {
                Assert.True(wake.IsCanceled && spoke, $"round {i}: the peer's read was cancelled by a watch that saw nothing");
                peer.Reader.AdvanceTo(wake.Buffer.Start);
            }
        }
    }
}
