using System.IO.Pipelines;
using System.Net.Sockets;

namespace EarlyPipeProxy.Sessions.Upstream;

/// <summary>
/// A connected upstream socket as a duplex pipe, lighter than a connection on Kestrel's socket transport: one pipe for
/// what the server sends, filled by one receive loop, and writes that go straight to the socket when flushed. An idle
/// connection holds no buffer (the loop waits with a zero-byte receive, and a buffer is rented only once data is
/// there, as Kestrel does with WaitForDataBeforeAllocatingBuffer) and no send loop, output pipe or connection context
/// (bench/README.md, "Memory per idle connection").
/// </summary>
/// <remarks>
/// The input pipe's reader is what the session reads replies from and what <see cref="UpstreamWatch"/> watches; a
/// cancelled read of it leaves the receive loop alone, so watching an idle server costs no system call. A flush
/// completes when the kernel has taken the bytes: a server that stops reading holds it, under the caller's timeout.
/// A reset or other socket failure reaches the reader, and the writer's caller, as an <see cref="IOException"/>.
/// </remarks>
internal sealed class SocketPipe : IDuplexPipe
{
    // As much unread reply text as Kestrel's transport allowed (its MaxReadBufferSize default, 1 MiB) before the loop
    // stops reading from the socket; scheduled inline, as the listeners' are (ProxyHost), since no session code blocks.
    private static readonly PipeOptions InputOptions = new(
        pool: null, readerScheduler: PipeScheduler.Inline, writerScheduler: PipeScheduler.Inline,
        pauseWriterThreshold: 1024 * 1024, resumeWriterThreshold: 512 * 1024, minimumSegmentSize: 4096, useSynchronizationContext: false);

    // 16 KiB buffers: a 64 KiB piece of relayed message body leaves in four sends. Rented only while written to.
    private static readonly StreamPipeWriterOptions OutputOptions = new(pool: null, minimumBufferSize: 16 * 1024, leaveOpen: true);

    /// <summary>How long a polite close may wait for the server to take what is still queued for it.</summary>
    private static readonly TimeSpan PoliteCloseBound = TimeSpan.FromSeconds(5);

    private readonly Socket _socket;
    private readonly Pipe _input = new(InputOptions);

    public SocketPipe(Socket socket)
    {
        _socket = socket;
        Output = PipeWriter.Create(new NetworkStream(socket, ownsSocket: false), OutputOptions);
        // The loop outlives the caller's context; what flows with it (log scopes) would only be kept alive by it.
        using (ExecutionContext.SuppressFlow())
        {
            _ = ReceiveAsync();
        }
    }

    public PipeReader Input => _input.Reader;

    public PipeWriter Output { get; }

    /// <summary>The kernel's smoothed round-trip time to the server, or null when unknown.</summary>
    public TimeSpan? RoundTripTime => Telemetry.TcpRoundTrip.Measure(_socket);

    /// <summary>
    /// Ends the connection. Politely (<paramref name="abort"/> false): what is still buffered is written within a
    /// bound (a server that stopped reading, a zero window, would hold the session for ever; it is reset then), both
    /// directions are shut down, the socket closed. Abort: a reset (RST), so the server sees a broken connection,
    /// never a completed message.
    /// </summary>
    public async ValueTask CloseAsync(bool abort)
    {
        if (!abort)
        {
            try
            {
                await Output.CompleteAsync().AsTask().WaitAsync(PoliteCloseBound);
                _socket.Shutdown(SocketShutdown.Both);
            }
            catch (Exception ex) when (ex is TimeoutException or IOException or SocketException or ObjectDisposedException)
            {
                abort = true;
            }
        }

        if (abort)
        {
            try
            {
                _socket.LingerState = new LingerOption(true, 0);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                // Already gone: nothing left to reset.
            }
        }

        // Ends the receive loop too, which completes the input; the session reads no more from it.
        _socket.Dispose();
        await _input.Reader.CompleteAsync();
    }

    /// <summary>Moves what the server sends into the input pipe until it closes, the socket fails or is closed, or the session stops reading.</summary>
    private async Task ReceiveAsync()
    {
        var writer = _input.Writer;
        Exception? error = null;
        try
        {
            while (true)
            {
                // Waits for data (or the server's close) without a buffer: an idle server costs no memory block.
                await _socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None);
                var received = await _socket.ReceiveAsync(writer.GetMemory(), SocketFlags.None);
                if (received == 0)
                {
                    break;
                }

                writer.Advance(received);
                var flushed = await writer.FlushAsync();
                if (flushed.IsCompleted)
                {
                    break;
                }
            }
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.OperationAborted)
        {
            // Closed here (CloseAsync): nobody reads any more.
        }
        catch (ObjectDisposedException)
        {
            // Closed here before the next receive began.
        }
        catch (Exception ex)
        {
            // A reset or another failure: the session's read meets it as the connection lost.
            error = ex as IOException ?? new IOException(ex.Message, ex);
        }

        await writer.CompleteAsync(error);
    }
}
