using System.Buffers;
using EarlyPipeProxy.Protocol.Commands;
using EarlyPipeProxy.Protocol.Data;
using EarlyPipeProxy.Sessions.Messages;
using EarlyPipeProxy.Sessions.Upstream;

namespace EarlyPipeProxy.Sessions.Outbound;

/// <summary>
/// Outbound policy: a DATA body leaving as BDAT chunks (RFC 3030), dot-unstuffed, toward a remote that offers CHUNKING
/// and PIPELINING. A chunk leaves once <see cref="ChunkSize"/> octets have built up; the chunks' replies are read after
/// the last one (<see cref="Chunks"/> says how many).
/// </summary>
internal sealed class BdatSink(UpstreamChannel remote) : IMessageBodySink
{
    // Large enough that chunk headers and replies cost nothing, small enough that the replies collected at the end
    // stay few. A large read makes a larger chunk.
    private const int ChunkSize = 64 * 1024;

    // The terminator's ".\r\n" after the body's last CRLF, which the body keeps.
    private const int TerminatorTail = 3;

    private readonly ArrayBufferWriter<byte> _chunk = new(ChunkSize + 4096);
    private DotUnstuffer _unstuffer;

    /// <summary>BDAT commands sent, each owed a reply.</summary>
    public int Chunks { get; private set; }

    public async ValueTask WriteAsync(ReadOnlySequence<byte> body)
    {
        Unstuff(body);
        if (_chunk.WrittenCount >= ChunkSize)
        {
            WriteChunk(last: false);
            await remote.FlushAsync();
        }
    }

    public ValueTask EndAsync(ReadOnlySequence<byte> bodyAndTerminator)
    {
        Unstuff(bodyAndTerminator.Slice(0, bodyAndTerminator.Length - TerminatorTail));
        WriteChunk(last: true);
        return ValueTask.CompletedTask;
    }

    public ValueTask AbandonAsync() => remote.AbortAsync();

    private void Unstuff(in ReadOnlySequence<byte> piece)
    {
        foreach (var segment in piece)
        {
            _unstuffer.Unstuff(segment.Span, _chunk);
        }
    }

    private void WriteChunk(bool last)
    {
        SmtpCommandWriter.WriteBdat(remote.Output, _chunk.WrittenCount, last);
        remote.Write(_chunk.WrittenSpan);
        _chunk.ResetWrittenCount();
        Chunks++;
    }
}
