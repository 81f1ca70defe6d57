using System.IO.Pipelines;
using System.Net.Sockets;

namespace EarlyPipeProxy.Sessions.Transport;

/// <summary>
/// A <see cref="SocketPipe"/>'s output: buffers what is written, sends it straight to the socket when flushed (no
/// output pipe, no send loop), and ends the connection politely when completed.
/// </summary>
/// <remarks>
/// A flush whose token is cancelled while the kernel does not take the bytes (a peer that stopped reading) resets the
/// connection rather than cancelling the send: a send stopped half-way would leave part of the bytes sent and all of
/// them still buffered, to be sent twice by the next flush. Whoever gives up on a flush is ending the session anyway
/// (its command timeout, the last words' bound, a stop); a peer that does not read gets nothing more.
/// </remarks>
internal sealed class SocketPipeOutput : PipeWriter
{
    // 16 KiB buffers: a 64 KiB piece of relayed message body leaves in four sends. Rented only while written to.
    private static readonly StreamPipeWriterOptions Options = new(pool: null, minimumBufferSize: 16 * 1024, leaveOpen: true);

    private readonly SocketPipe _owner;
    private readonly PipeWriter _writer;

    public SocketPipeOutput(SocketPipe owner, Socket socket)
    {
        _owner = owner;
        _writer = Create(new NetworkStream(socket, ownsSocket: false), Options);
    }

    public override bool CanGetUnflushedBytes => _writer.CanGetUnflushedBytes;

    public override long UnflushedBytes => _writer.UnflushedBytes;

    public override void Advance(int bytes) => _writer.Advance(bytes);

    public override Memory<byte> GetMemory(int sizeHint = 0) => _writer.GetMemory(sizeHint);

    public override Span<byte> GetSpan(int sizeHint = 0) => _writer.GetSpan(sizeHint);

    public override void CancelPendingFlush() => _writer.CancelPendingFlush();

    public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
    {
        // Never cancelled itself (see the remarks); the token only decides how long the caller waits.
        var flush = _writer.FlushAsync(CancellationToken.None);
        return flush.IsCompletedSuccessfully ? flush : WaitAsync(flush, cancellationToken);
    }

    public override ValueTask CompleteAsync(Exception? exception = null) => CompleteAndCloseAsync(exception);

    public override void Complete(Exception? exception = null)
    {
        var completion = CompleteAndCloseAsync(exception);
        if (!completion.IsCompletedSuccessfully)
        {
            // Not waited for here; its failure is the connection's end, already seen by the reader.
            _ = completion.AsTask().ContinueWith(static t => _ = t.Exception, CancellationToken.None,
                TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
    }

    private async ValueTask<FlushResult> WaitAsync(ValueTask<FlushResult> flush, CancellationToken cancellationToken)
    {
        try
        {
            if (!cancellationToken.CanBeCanceled)
            {
                return await flush;
            }

            var sending = flush.AsTask();
            try
            {
                return await sending.WaitAsync(cancellationToken);
            }
            catch (OperationCanceledException) when (!sending.IsCompleted)
            {
                _owner.Abort(null);
                _ = sending.ContinueWith(static t => _ = t.Exception, CancellationToken.None,
                    TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
                throw;
            }
        }
        catch (Exception ex) when (ex is ObjectDisposedException or SocketException)
        {
            // The socket closed here (an abort) or a failure NetworkStream did not wrap: the connection is gone.
            throw new IOException("the connection is closed", ex);
        }
    }

    private async ValueTask CompleteAndCloseAsync(Exception? exception)
    {
        try
        {
            // Writes what is still buffered (nothing when completed with an error).
            await _writer.CompleteAsync(exception);
        }
        catch (Exception ex) when (ex is ObjectDisposedException or SocketException)
        {
            throw new IOException("the connection is closed", ex);
        }
        finally
        {
            if (exception is null)
            {
                _owner.OutputCompleted();
            }
            else
            {
                _owner.Abort(null);
            }
        }
    }
}
