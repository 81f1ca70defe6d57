using System.Buffers;
using EarlyPipeProxy.Protocol.Replies;

namespace EarlyPipeProxy.Sessions.Upstream;

/// <summary>
/// An upstream reply copied out of the connection's buffer, for a session that reads replies before it relays them
/// (the outbound early flight's are all read before any reaches the sender, so a failed flight can be redone unseen).
/// </summary>
public readonly record struct UpstreamReply(int Code, byte[] Raw)
{
    public bool IsPositiveCompletion => ReplyCode.IsPositiveCompletion(Code);

    public ReadOnlySequence<byte> AsSequence() => new(Raw);
}
