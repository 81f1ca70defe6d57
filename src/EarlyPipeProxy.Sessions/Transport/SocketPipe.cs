using System.IO.Pipelines;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;

namespace EarlyPipeProxy.Sessions.Transport;

/// <summary>
/// A connected socket as a duplex pipe, lighter than a connection on Kestrel's socket transport: one pipe for what the
/// peer sends, filled by one receive loop, and writes that go straight to the socket when flushed. An idle connection
/// holds no buffer (the loop waits with a zero-byte receive, and a buffer is rented only once data is there, as Kestrel
/// does with WaitForDataBeforeAllocatingBuffer) and no send loop, output pipe or Kestrel connection context
/// (bench/README.md, "Memory per idle connection"). Both sides use it: upstream connections
/// (<see cref="Upstream.SocketUpstreamConnector"/>) and the SMTP listeners' accepted ones (<see cref="SmtpSocketConnection"/>).
/// </summary>
/// <remarks>
/// The input pipe's reader is what the session reads from (and what <see cref="Upstream.UpstreamWatch"/> watches); a
/// cancelled read of it leaves the receive loop alone, so watching an idle peer costs no system call. The peer's FIN
/// completes the input and leaves the output working (Exim half-closes after a pipelined QUIT and still reads the 221).
/// A flush completes when the kernel has taken the bytes: a peer that stops reading holds it, and a flush given up on
/// (its token cancelled) resets the connection, since a send cannot be taken back half-way (<see cref="SocketPipeOutput"/>).
/// The socket is non-blocking: a read after the zero-byte wait and a flush into a send buffer with room are plain
/// system calls, without the socket's asynchronous state for them.
/// Completing the output ends the connection politely: shutdown, then close, as Kestrel's transport does. A reset or
/// other socket failure reaches the reader, and the writer's caller, as an <see cref="IOException"/>.
/// </remarks>
internal sealed class SocketPipe : IDuplexPipe
{
    // As much unread input as Kestrel's transport allows (its MaxReadBufferSize default, 1 MiB) before the loop stops
    // reading from the socket; scheduled inline, as the listeners were on Kestrel's transport, since no session code blocks.
    private static readonly PipeOptions InputOptions = new(
        pool: null, readerScheduler: PipeScheduler.Inline, writerScheduler: PipeScheduler.Inline,
        pauseWriterThreshold: 1024 * 1024, resumeWriterThreshold: 512 * 1024, minimumSegmentSize: 4096, useSynchronizationContext: false);

    /// <summary>How long a polite close may wait for the peer to take what is still queued for it.</summary>
    private static readonly TimeSpan PoliteCloseBound = TimeSpan.FromSeconds(5);

    private readonly Socket _socket;
    private readonly Pipe _input = new(InputOptions);
    private readonly SocketPipeOutput _output;
    private readonly ISocketPipeObserver? _observer;
    private readonly Task _receiving;
    private Exception? _abortReason;

    // ClosedHere and ReceiveLoopEnded, as they happen; the socket is disposed once both have.
    private int _state;
    private const int ClosedHere = 1;
    private const int ReceiveLoopEnded = 2;

    /// <param name="socket">A connected socket; the pipe owns it from now on.</param>
    /// <param name="observer">Told when the receive loop ends (the peer's FIN or reset, or the close here); null: nobody.</param>
    public SocketPipe(Socket socket, ISocketPipeObserver? observer = null)
    {
        _socket = socket;
        // Reads and writes try the socket without waiting first (ReceiveAsync, SocketPipeOutput); only the waits are asynchronous.
        socket.Blocking = false;
        _observer = observer;
        _output = new SocketPipeOutput(this, socket);
        // The loop outlives the caller's context; what flows with it (log scopes) would only be kept alive by it.
        using (ExecutionContext.SuppressFlow())
        {
            _receiving = ReceiveAsync();
        }
    }

    public PipeReader Input => _input.Reader;

    public PipeWriter Output => _output;

    public Socket Socket => _socket;

    /// <summary>The kernel's smoothed round-trip time to the peer, or null when unknown.</summary>
    public TimeSpan? RoundTripTime => Telemetry.TcpRoundTrip.Measure(_socket);

    /// <summary>Whether the socket has been closed here (politely or by a reset).</summary>
    public bool IsClosed => (Volatile.Read(ref _state) & ClosedHere) != 0;

    /// <summary>
    /// Ends the connection. Politely (<paramref name="abort"/> false): what is still buffered is written within a
    /// bound (a peer that stopped reading, a zero window, would hold the session for ever; it is reset then), then
    /// shutdown and close. Abort: a reset (RST), so the peer sees a broken connection, never a completed message.
    /// </summary>
    public async ValueTask CloseAsync(bool abort)
    {
        if (!abort)
        {
            try
            {
                // Completing the output closes the socket politely (OutputCompleted).
                await _output.CompleteAsync().AsTask().WaitAsync(PoliteCloseBound);
            }
            catch (Exception ex) when (ex is TimeoutException or IOException or SocketException or ObjectDisposedException)
            {
                abort = true;
            }
        }

        if (abort)
        {
            Abort(null);
        }
        else
        {
            ClosePolitely();
        }

        // The receive loop ends with the close, which completes the input; nobody reads any more.
        await _input.Reader.CompleteAsync();
    }

    /// <summary>
    /// Resets the connection at once (SO_LINGER 0, then close: an RST, whatever is queued is dropped). The input's
    /// reader then meets <paramref name="reason"/> (null: the input just ends); the output's writer an
    /// <see cref="IOException"/>. Does nothing once the socket is closed.
    /// </summary>
    public void Abort(Exception? reason)
    {
        if ((Interlocked.Or(ref _state, ClosedHere) & ClosedHere) != 0)
        {
            return;
        }

        // Before the socket goes: the receive loop ends with that, and reads it then.
        Volatile.Write(ref _abortReason, reason);
        try
        {
            _socket.LingerState = new LingerOption(true, 0);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Already gone: nothing left to reset.
        }

        _socket.Dispose();
        // A receive loop paused on a full input pipe ends too.
        _input.Writer.CancelPendingFlush();
    }

    /// <summary>Waits until the receive loop has ended (after a close here, or the peer's FIN or reset).</summary>
    public Task ReceiveEnded => _receiving;

    /// <summary>The output was completed: everything written is with the kernel, so the connection ends politely.</summary>
    internal void OutputCompleted() => ClosePolitely();

    /// <summary>
    /// Shutdown of both directions (a FIN after what is queued), then close, as Kestrel's transport ends a connection.
    /// The shutdown also ends the receive loop's wait as the end of input, so the socket is disposed once the loop has
    /// ended (by whichever of the two comes second): disposing it under a waiting receive would end that receive with
    /// an exception, a cost paid by every connection.
    /// </summary>
    private void ClosePolitely()
    {
        if ((Volatile.Read(ref _state) & ClosedHere) != 0)
        {
            return;
        }

        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // The peer reset first: closing is all there is left to do.
        }

        var before = Interlocked.Or(ref _state, ClosedHere);
        if ((before & ClosedHere) != 0)
        {
            return;
        }

        // A loop paused on a full input pipe ends too.
        _input.Writer.CancelPendingFlush();
        if ((before & ReceiveLoopEnded) != 0)
        {
            _socket.Dispose();
        }
    }

    /// <summary>Moves what the peer sends into the input pipe until it closes, the socket fails or is closed, or nobody reads any more.</summary>
    private async Task ReceiveAsync()
    {
        var writer = _input.Writer;
        Exception? error = null;
        try
        {
            while (true)
            {
                // Waits for data (or the peer's close) without a buffer: an idle peer costs no memory block.
                await _socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None);
                // The data is there: taken without waiting, with no second asynchronous operation.
                var received = _socket.Receive(writer.GetMemory().Span, SocketFlags.None, out var failure);
                if (failure == SocketError.WouldBlock)
                {
                    continue;
                }

                if (failure != SocketError.Success)
                {
                    throw new SocketException((int)failure);
                }

                if (received == 0)
                {
                    break;
                }

                writer.Advance(received);
                var flushed = await writer.FlushAsync();
                if (flushed.IsCompleted || flushed.IsCanceled)
                {
                    break;
                }
            }
        }
        catch (Exception ex) when (IsClosed && ex is SocketException or ObjectDisposedException)
        {
            // Closed here (a polite close or an abort): the reason, if any, is set below.
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionReset)
        {
            error = new ConnectionResetException(ex.Message, ex);
        }
        catch (Exception ex)
        {
            // Another failure: the session's read meets it as the connection lost.
            error = ex as IOException ?? new IOException(ex.Message, ex);
        }

        if ((Interlocked.Or(ref _state, ReceiveLoopEnded) & ClosedHere) != 0)
        {
            // Closed here while the loop waited: the close left the disposal to the loop.
            _socket.Dispose();
        }

        await writer.CompleteAsync(Volatile.Read(ref _abortReason) ?? error);
        _observer?.ReceiveEnded();
    }
}
