using System.Buffers;
using EarlyPipeProxy.Sessions.Upstream;

namespace EarlyPipeProxy.Sessions.Messages;

/// <summary>
/// The body relayed verbatim after the upstream's 354 (or, when <c>forward</c> is false because the upstream refused
/// DATA, read and dropped). Each piece is flushed as it comes, so a large message streams.
/// </summary>
public sealed class UpstreamBodySink(UpstreamChannel upstream, bool forward = true) : IMessageBodySink
{
    public async ValueTask WriteAsync(ReadOnlySequence<byte> body)
    {
        if (forward)
        {
            upstream.Write(body);
            await upstream.FlushAsync();
        }
    }

    public ValueTask EndAsync(ReadOnlySequence<byte> bodyAndTerminator)
    {
        if (forward)
        {
            // Flushed with whatever the session sends next, before it reads the upstream's verdict.
            upstream.Write(bodyAndTerminator);
        }

        return ValueTask.CompletedTask;
    }

    public ValueTask AbandonAsync() => upstream.AbortAsync();
}
