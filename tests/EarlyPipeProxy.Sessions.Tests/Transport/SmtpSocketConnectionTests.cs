using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using EarlyPipeProxy.Sessions.Tests.TestSupport;
using EarlyPipeProxy.Sessions.Transport;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;

namespace EarlyPipeProxy.Sessions.Tests.Transport;

/// <summary>
/// The SMTP listeners' own transport over real loopback sockets: an accepted connection carries its listener's feature,
/// its socket (Nagle off) and endpoints; the client's half-close completes the input while the output still reaches it,
/// then completing the output ends the connection with a FIN; a client sending more than is read is held at the input
/// bound (1 MiB) and resumed without a lost octet; an abort is a reset at once, the reader meeting the
/// reason; a client that stops reading holds a bounded flush for its bound only, then is reset; Kestrel's features set
/// on the connection (its graceful-stop notification among them) are kept.
/// </summary>
public sealed class SmtpSocketConnectionTests
{
    private sealed record ListenerFeature(string Name);

    private static async Task<(SmtpSocketConnection Connection, Socket Client, IConnectionListener Listener)> AcceptAsync(ListenerFeature? feature = null)
    {
        var address = new IPEndPoint(IPAddress.Loopback, 0);
        var transport = new SmtpListenerTransport(new SmtpListenerTransportOptions(), new Dictionary<IPEndPoint, object> { [address] = feature ?? new ListenerFeature("mx") });
        var listener = await transport.BindAsync(address);
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(listener.EndPoint);
        var accepted = await listener.AcceptAsync().AsTask().WaitAsync(Wire.Patience);
        return (Assert.IsType<SmtpSocketConnection>(accepted), client, listener);
    }

    private static async Task<string> ReadAsync(PipeReader input)
    {
        var result = await input.ReadAsync().AsTask().WaitAsync(Wire.Patience);
        var text = Wire.Text(result.Buffer.ToArray());
        input.AdvanceTo(result.Buffer.End);
        return text;
    }

    /// <summary>Everything the client receives until the connection's end: (text, null) at a FIN, (text, error) at a reset.</summary>
    private static async Task<(string Text, SocketError? Error)> DrainAsync(Socket client, TimeSpan patience)
    {
        var text = new System.Text.StringBuilder();
        var buffer = new byte[64 * 1024];
        try
        {
            int received;
            while ((received = await client.ReceiveAsync(buffer).WaitAsync(patience)) > 0)
            {
                text.Append(Wire.Text(buffer.AsSpan(0, received)));
            }

            return (text.ToString(), null);
        }
        catch (SocketException ex)
        {
            return (text.ToString(), ex.SocketErrorCode);
        }
    }

    [Fact]
    public async Task An_accepted_connection_has_its_listeners_feature_its_socket_and_its_endpoints_and_carries_both_ways()
    {
        var feature = new ListenerFeature("submission");
        var (connection, client, listener) = await AcceptAsync(feature);
        await using var _ = listener;
        using var __ = client;

        Assert.Same(feature, connection.Features.Get<ListenerFeature>());
        var socket = connection.Features.Get<IConnectionSocketFeature>()!.Socket;
        Assert.True(socket.NoDelay);
        Assert.Equal(client.LocalEndPoint, connection.RemoteEndPoint);
        Assert.Equal(client.RemoteEndPoint, connection.LocalEndPoint);
        Assert.Same(connection.Transport, connection.Features.Get<IConnectionTransportFeature>()!.Transport);
        Assert.Null(connection.Features.Get<IConnectionLifetimeNotificationFeature>());

        await client.SendAsync(Wire.Bytes("EHLO client\r\n"));
        Assert.Equal("EHLO client\r\n", await ReadAsync(connection.Transport.Input));
        await connection.Transport.Output.WriteAsync(Wire.Bytes("250 ok\r\n"));
        var buffer = new byte[100];
        var received = await client.ReceiveAsync(buffer).WaitAsync(Wire.Patience);
        Assert.Equal("250 ok\r\n", Wire.Text(buffer.AsSpan(0, received)));
        await connection.DisposeAsync();
    }

    [Fact]
    public async Task A_half_close_completes_the_input_the_output_still_reaches_the_client_and_completing_it_sends_a_FIN()
    {
        var (connection, client, listener) = await AcceptAsync();
        await using var _ = listener;
        using var __ = client;
        var closed = connection.ConnectionClosed;

        // Exim after a pipelined QUIT: the command, then its FIN, and it still waits for the 221.
        await client.SendAsync(Wire.Bytes("QUIT\r\n"));
        client.Shutdown(SocketShutdown.Send);
        var input = connection.Transport.Input;
        var read = await input.ReadAsync().AsTask().WaitAsync(Wire.Patience);
        while (!read.IsCompleted)
        {
            input.AdvanceTo(read.Buffer.Start, read.Buffer.End);
            read = await input.ReadAsync().AsTask().WaitAsync(Wire.Patience);
        }

        Assert.Equal("QUIT\r\n", Wire.Text(read.Buffer.ToArray()));
        input.AdvanceTo(read.Buffer.End);
        // As on Kestrel's transport, the close token fires with the receive side's end.
        await Task.Delay(Timeout.Infinite, closed).WaitAsync(Wire.Patience).ContinueWith(_ => { }, TaskScheduler.Default);
        Assert.True(closed.IsCancellationRequested);

        await connection.Transport.Output.WriteAsync(Wire.Bytes("221 bye\r\n"));
        await connection.Transport.Output.CompleteAsync();

        Assert.Equal(("221 bye\r\n", null), await DrainAsync(client, Wire.Patience));
        await connection.DisposeAsync().AsTask().WaitAsync(Wire.Patience);
    }

    [Fact]
    public async Task A_client_sending_more_than_the_session_reads_is_held_at_the_input_bound_then_resumed_with_every_octet()
    {
        var (connection, client, listener) = await AcceptAsync();
        await using var _ = listener;
        using var __ = client;
        const int InputBound = 1024 * 1024;

        // Far more than the input bound and both kernels' buffers together: the sender must be held back.
        var payload = new byte[32 * 1024 * 1024];
        new Random(14).NextBytes(payload);
        var sending = client.SendAsync(payload);

        // The session reads nothing (as while it waits for the backend): look without examining, until the input stops
        // growing. (A reader that examined everything and waits for more would release the writer, as it must.)
        var input = connection.Transport.Input;
        long buffered = -1;
        var steady = 0;
        var patience = Stopwatch.StartNew();
        while (steady < 5 && patience.Elapsed < Wire.Patience)
        {
            await Task.Delay(100);
            var length = input.TryRead(out var peek) ? peek.Buffer.Length : 0;
            if (length > 0)
            {
                input.AdvanceTo(peek.Buffer.Start);
            }

            steady = length == buffered ? steady + 1 : 0;
            buffered = length;
        }

        // One receive's block past the bound at most, and the client still sending: the proxy holds no more than that.
        Assert.InRange(buffered, InputBound, InputBound + (64 * 1024));
        Assert.False(sending.IsCompleted, "the client's 32 MiB send completed although nothing was read");

        // Reading resumes the loop: every octet arrives, in order.
        var offset = 0;
        while (offset < payload.Length)
        {
            var result = await input.ReadAsync().AsTask().WaitAsync(Wire.Patience);
            foreach (var segment in result.Buffer)
            {
                Assert.True(segment.Span.SequenceEqual(payload.AsSpan(offset, segment.Length)), $"octets differ after {offset}");
                offset += segment.Length;
            }

            input.AdvanceTo(result.Buffer.End);
        }

        Assert.Equal(payload.Length, await sending.WaitAsync(Wire.Patience));
        await connection.DisposeAsync();
    }

    [Fact]
    public async Task An_abort_resets_the_connection_at_once_and_the_reader_meets_its_reason()
    {
        var (connection, client, listener) = await AcceptAsync();
        await using var _ = listener;
        using var __ = client;
        var reading = connection.Transport.Input.ReadAsync().AsTask();
        var closed = connection.ConnectionClosed;
        // Written and flushed just before: an abort drops it rather than waiting for it.
        await connection.Transport.Output.WriteAsync(Wire.Bytes("250 ok\r\n"));

        connection.Abort(new ConnectionAbortedException("cut off"));

        var (_, error) = await DrainAsync(client, Wire.Patience);
        Assert.Equal(SocketError.ConnectionReset, error);
        var thrown = await Assert.ThrowsAsync<ConnectionAbortedException>(() => reading.WaitAsync(Wire.Patience));
        Assert.Equal("cut off", thrown.Message);
        await Task.Delay(Timeout.Infinite, closed).WaitAsync(Wire.Patience).ContinueWith(_ => { }, TaskScheduler.Default);
        Assert.True(closed.IsCancellationRequested);
        await Assert.ThrowsAsync<IOException>(async () => await connection.Transport.Output.WriteAsync(Wire.Bytes("421 late\r\n")));
        await connection.DisposeAsync().AsTask().WaitAsync(Wire.Patience);
    }

    [Fact]
    public async Task A_client_that_stops_reading_holds_a_bounded_flush_for_its_bound_only_then_is_reset()
    {
        var (connection, client, listener) = await AcceptAsync();
        await using var _ = listener;
        using var __ = client;
        client.ReceiveBufferSize = 4096;
        var output = connection.Transport.Output;
        var chunk = new byte[64 * 1024];
        Array.Fill(chunk, (byte)'x');

        // The session's flushes, each under a bound, until the client's window and the kernel's send buffer are full.
        var written = 0;
        TimeSpan? heldFor = null;
        while (heldFor is null)
        {
            output.Write(chunk);
            written += chunk.Length;
            using var bound = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
            var clock = Stopwatch.StartNew();
            try
            {
                await output.FlushAsync(bound.Token);
            }
            catch (OperationCanceledException)
            {
                heldFor = clock.Elapsed;
            }

            Assert.True(written < 256 * 1024 * 1024, "the kernel took everything: no flush was held");
        }

        Assert.True(heldFor < Wire.Patience, $"the bounded flush took {heldFor}");
        await Assert.ThrowsAsync<IOException>(async () => await output.WriteAsync(Wire.Bytes("421 bye\r\n")));
        var (received, error) = await DrainAsync(client, Wire.Patience);
        Assert.Equal(SocketError.ConnectionReset, error);
        Assert.True(received.Length < written, $"all {written} octets arrived although the client did not read");
        await connection.DisposeAsync().AsTask().WaitAsync(Wire.Patience);
    }

    [Fact]
    public async Task Writes_larger_than_a_buffer_and_more_than_the_kernel_takes_at_once_arrive_whole_and_in_order()
    {
        var (connection, client, listener) = await AcceptAsync();
        await using var _ = listener;
        using var __ = client;
        var output = connection.Transport.Output;
        var expected = new byte[6 * 1024 * 1024];
        for (var i = 0; i < expected.Length; i++)
        {
            expected[i] = (byte)(i * 7 % 251);
        }

        // Pieces of several sizes between flushes; the client reads only once the flushes wait for it.
        var flushes = Task.Run(async () =>
        {
            var at = 0;
            var piece = 1000;
            while (at < expected.Length)
            {
                var length = Math.Min(piece, expected.Length - at);
                output.Write(expected.AsSpan(at, length));
                at += length;
                piece = piece * 3 % 200_000 + 1;
                if (piece % 2 == 0)
                {
                    await output.FlushAsync();
                }
            }

            await output.CompleteAsync();
        });
        await Task.Delay(200);
        var received = new MemoryStream();
        var buffer = new byte[64 * 1024];
        int count;
        while ((count = await client.ReceiveAsync(buffer).WaitAsync(Wire.Patience)) > 0)
        {
            received.Write(buffer, 0, count);
        }

        await flushes.WaitAsync(Wire.Patience);
        Assert.True(expected.AsSpan().SequenceEqual(received.ToArray()), $"received {received.Length} octets, not the {expected.Length} written");
        await connection.DisposeAsync();
    }

    [Fact]
    public async Task Features_Kestrel_sets_are_kept_and_others_come_back_as_set()
    {
        var (connection, client, listener) = await AcceptAsync();
        await using var _ = listener;
        using var __ = client;
        var features = connection.Features;
        var notification = new LifetimeNotification();
        var revision = features.Revision;

        features.Set<IConnectionLifetimeNotificationFeature>(notification);
        features.Set(new ListenerFeature("other"));
        features.Set<IFormattable>(42);
        features.Set<ICloneable>("text");

        Assert.Same(notification, features.Get<IConnectionLifetimeNotificationFeature>());
        Assert.Equal(new ListenerFeature("other"), features.Get<ListenerFeature>());
        Assert.Equal(42, features.Get<IFormattable>());
        Assert.Equal("text", features.Get<ICloneable>());
        Assert.Same(connection, features.Get<IConnectionEndPointFeature>());
        Assert.Null(features.Get<IConnectionHeartbeatFeature>());
        Assert.True(features.Revision > revision);
        Assert.Contains(features, f => f.Key == typeof(IConnectionLifetimeNotificationFeature) && ReferenceEquals(f.Value, notification));
        await connection.DisposeAsync();
    }

    private sealed class LifetimeNotification : IConnectionLifetimeNotificationFeature
    {
        public CancellationToken ConnectionClosedRequested { get; set; }

        public void RequestClose()
        {
        }
    }
}
