namespace EarlyPipeProxy.Sessions.Messages;

/// <summary>How reading a BDAT chunk with <see cref="BdatChunkReader"/> ended.</summary>
public enum BdatChunkOutcome
{
    /// <summary>Every octet of the chunk was read and handed on.</summary>
    Complete,

    /// <summary>The peer closed the connection inside the chunk.</summary>
    PeerLost,

    /// <summary>Settling ended the session while the chunk was being read.</summary>
    SessionOver,

    /// <summary>A graceful stop's cut-off passed: the rest of the chunk, and the message, go nowhere.</summary>
    Stopped,
}
