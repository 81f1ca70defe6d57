using System.IO.Pipelines;

namespace EarlyPipeProxy.Sessions.Tests.TestSupport;

/// <summary>
/// One end of an in-memory connection (a reader and a writer) as a Stream, for an SslStream of the test's own:
/// the client's or the fake backend's. Independent of the engine's adapter on purpose. Every write is flushed;
/// <paramref name="onRead"/> sees the raw octets as they are read (what a wire capture would show).
/// </summary>
internal sealed class PipeStream(PipeReader reader, PipeWriter writer, Action<ReadOnlySpan<byte>>? onRead = null) : Stream
{
    public override bool CanRead => true;

    public override bool CanWrite => true;

    public override bool CanSeek => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (true)
        {
            ReadResult result;
            try
            {
                result = await reader.ReadAsync(cancellationToken);
            }
            catch (InvalidOperationException ex)
            {
                throw new IOException("the pipe is closed", ex);
            }

            var available = result.Buffer;
            if (buffer.Length == 0)
            {
                // A zero-byte read (SslStream's way to wait for data without a buffer): done once data or EOF is there.
                reader.AdvanceTo(available.Start);
                if (!available.IsEmpty || result.IsCompleted)
                {
                    return 0;
                }

                continue;
            }

            if (!available.IsEmpty)
            {
                var taken = available.Slice(0, Math.Min(available.Length, buffer.Length));
                var count = (int)taken.Length;
                System.Buffers.BuffersExtensions.CopyTo(taken, buffer.Span);
                reader.AdvanceTo(taken.End);
                onRead?.Invoke(buffer.Span[..count]);
                return count;
            }

            reader.AdvanceTo(available.Start, available.End);
            if (result.IsCompleted)
            {
                return 0;
            }

            if (result.IsCanceled)
            {
                throw new OperationCanceledException("read canceled");
            }
        }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        FlushResult result;
        try
        {
            result = await writer.WriteAsync(buffer, cancellationToken);
        }
        catch (InvalidOperationException ex)
        {
            throw new IOException("the pipe is closed", ex);
        }

        if (result.IsCompleted)
        {
            throw new IOException("the peer stopped reading");
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override void Flush()
    {
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException("async only");

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException("async only");

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();
}
