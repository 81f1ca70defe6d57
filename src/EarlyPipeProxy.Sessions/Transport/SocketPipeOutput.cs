using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;

namespace EarlyPipeProxy.Sessions.Transport;

/// <summary>
/// A <see cref="SocketPipe"/>'s output: one buffer, rented when written to and returned once flushed, sent straight to
/// the socket when flushed (no output pipe, no send loop, no stream), and completion ends the connection politely.
/// </summary>
/// <remarks>
/// A flush first sends without waiting (the socket is non-blocking): when the kernel takes everything, as it does for
/// replies and commands, no asynchronous send is made and the socket keeps no send state for it (an idle connection's
/// memory). Only what the kernel does not take at once waits in an asynchronous send. A flush whose token is cancelled
/// while that send waits (a peer that stopped reading) resets the connection rather than cancelling the send: a send
/// stopped half-way would leave part of the bytes sent and all of them still buffered, to be sent twice by the next
/// flush. Whoever gives up on a flush is ending the session anyway (its command timeout, the last words' bound, a
/// stop); a peer that does not read gets nothing more.
/// </remarks>
internal sealed class SocketPipeOutput(SocketPipe owner, Socket socket) : PipeWriter
{
    // 16 KiB at least: a 64 KiB piece of relayed message body leaves in few sends; replies fit many times over.
    private const int MinimumBufferSize = 16 * 1024;

    private byte[]? _buffer;
    private int _written;
    private bool _completed;

    // The buffer an asynchronous send still reads from, while it does: never returned to the pool or written over.
    private byte[]? _sending;

    public override bool CanGetUnflushedBytes => true;

    public override long UnflushedBytes => _written;

    public override void Advance(int bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        if (_buffer is null || _written + bytes > _buffer.Length)
        {
            throw new InvalidOperationException("advanced past the memory handed out");
        }

        _written += bytes;
    }

    public override Memory<byte> GetMemory(int sizeHint = 0) => Reserve(sizeHint).AsMemory(_written);

    public override Span<byte> GetSpan(int sizeHint = 0) => Reserve(sizeHint).AsSpan(_written);

    public override void CancelPendingFlush()
    {
        // A flush here waits only for the kernel; nothing to wake early.
    }

    public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
    {
        if (_completed)
        {
            throw new InvalidOperationException("the output is completed");
        }

        if (_written == 0)
        {
            return ValueTask.FromResult(default(FlushResult));
        }

        if (owner.IsClosed)
        {
            throw new IOException("the connection is closed");
        }

        var buffer = _buffer!;
        var sent = 0;
        while (sent < _written)
        {
            var now = socket.Send(buffer.AsSpan(sent, _written - sent), SocketFlags.None, out var error);
            if (error == SocketError.WouldBlock)
            {
                break;
            }

            if (error != SocketError.Success)
            {
                throw SendFailed(new SocketException((int)error));
            }

            sent += now;
        }

        if (sent == _written)
        {
            Release();
            return ValueTask.FromResult(default(FlushResult));
        }

        return SendRestAsync(buffer, sent, cancellationToken);
    }

    public override ValueTask CompleteAsync(Exception? exception = null)
    {
        if (_completed)
        {
            return ValueTask.CompletedTask;
        }

        if (exception is not null || _written == 0)
        {
            Complete(exception);
            return ValueTask.CompletedTask;
        }

        return FlushThenCompleteAsync();
    }

    public override void Complete(Exception? exception = null)
    {
        if (_completed)
        {
            return;
        }

        _completed = true;
        if (exception is null && _written == 0)
        {
            owner.OutputCompleted();
        }
        else
        {
            // Completed with an error, or with bytes that were never flushed: the connection did not end well.
            owner.Abort(null);
        }

        Release();
    }

    private async ValueTask FlushThenCompleteAsync()
    {
        try
        {
            await FlushAsync(CancellationToken.None);
        }
        finally
        {
            Complete(_written == 0 ? null : new IOException("not sent"));
        }
    }

    /// <summary>What the kernel did not take at once, sent asynchronously; the caller's token bounds the wait, not the send.</summary>
    private async ValueTask<FlushResult> SendRestAsync(byte[] buffer, int sent, CancellationToken cancellationToken)
    {
        _sending = buffer;
        var sending = socket.SendAsync(buffer.AsMemory(sent, _written - sent), SocketFlags.None, CancellationToken.None).AsTask();
        try
        {
            await sending.WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException) when (!sending.IsCompleted)
        {
            owner.Abort(null);
            // The buffer stays with the send until it fails; the next write gets another.
            _buffer = null;
            _written = 0;
            _ = sending.ContinueWith(static t => _ = t.Exception, CancellationToken.None,
                TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            throw;
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            _sending = null;
            throw SendFailed(ex);
        }

        _sending = null;
        Release();
        return default;
    }

    private IOException SendFailed(Exception ex) =>
        owner.IsClosed ? new IOException("the connection is closed", ex)
        : ex is SocketException { SocketErrorCode: SocketError.ConnectionReset or SocketError.Shutdown } reset
            ? new Microsoft.AspNetCore.Connections.ConnectionResetException(reset.Message, reset)
            : new IOException(ex.Message, ex);

    /// <summary>A buffer with at least <paramref name="sizeHint"/> octets free after what is written (kept, or grown by copying).</summary>
    private byte[] Reserve(int sizeHint)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(sizeHint);
        if (_completed)
        {
            throw new InvalidOperationException("the output is completed");
        }

        var needed = _written + Math.Max(sizeHint, 1);
        if (_buffer is not null && needed <= _buffer.Length && !ReferenceEquals(_buffer, _sending))
        {
            return _buffer;
        }

        var grown = ArrayPool<byte>.Shared.Rent(Math.Max(MinimumBufferSize, Math.Max(needed, (_buffer?.Length ?? 0) * 2)));
        if (_buffer is not null)
        {
            _buffer.AsSpan(0, _written).CopyTo(grown);
            if (!ReferenceEquals(_buffer, _sending))
            {
                ArrayPool<byte>.Shared.Return(_buffer);
            }
        }

        _buffer = grown;
        return grown;
    }

    /// <summary>All sent: the buffer goes back to the pool, so an idle connection holds none.</summary>
    private void Release()
    {
        if (_buffer is not null && !ReferenceEquals(_buffer, _sending))
        {
            ArrayPool<byte>.Shared.Return(_buffer);
        }

        _buffer = null;
        _written = 0;
    }
}
