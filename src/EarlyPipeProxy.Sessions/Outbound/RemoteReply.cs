using System.Buffers;

namespace EarlyPipeProxy.Sessions.Outbound;

/// <summary>
/// A remote reply copied out of the connection's buffer: the early flight's replies are all read before any of them
/// reaches the sender, so that a failed flight can be redone without the sender seeing a word of it.
/// </summary>
public readonly record struct RemoteReply(int Code, byte[] Raw)
{
    public bool IsPositiveCompletion => Code is >= 200 and < 300;

    public ReadOnlySequence<byte> AsSequence() => new(Raw);
}
