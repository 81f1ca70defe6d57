using System.IO.Pipelines;

namespace EarlyPipeProxy.Sessions.Tracing;

/// <summary>
/// A pipe writer that shows a <see cref="WrittenStreamTrace"/> every octet as it is committed (on Advance) and passes
/// everything else through: the one seam where a traced session's output is seen, whoever writes it (the channel's
/// own writes, the command writer, a relayed body).
/// </summary>
internal sealed class TracingPipeWriter : PipeWriter
{
    private readonly PipeWriter _inner;
    private readonly WrittenStreamTrace _trace;
    private Memory<byte> _lent;

    public TracingPipeWriter(PipeWriter inner, WrittenStreamTrace trace)
    {
        _inner = inner;
        _trace = trace;
    }

    public override bool CanGetUnflushedBytes => _inner.CanGetUnflushedBytes;

    public override long UnflushedBytes => _inner.UnflushedBytes;

    public override void Advance(int bytes)
    {
        _trace.Written(_lent.Span[..bytes]);
        _lent = default;
        _inner.Advance(bytes);
    }

    public override Memory<byte> GetMemory(int sizeHint = 0) => _lent = _inner.GetMemory(sizeHint);

    // Through GetMemory, so that Advance knows which octets were written.
    public override Span<byte> GetSpan(int sizeHint = 0) => GetMemory(sizeHint).Span;

    public override void CancelPendingFlush() => _inner.CancelPendingFlush();

    public override void Complete(Exception? exception = null) => _inner.Complete(exception);

    public override ValueTask CompleteAsync(Exception? exception = null) => _inner.CompleteAsync(exception);

    public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default) => _inner.FlushAsync(cancellationToken);
}
