namespace EarlyPipeProxy.Sessions.Outbound;

/// <summary>How an outbound session used early pipelining toward its remote (the session line's L field).</summary>
public enum RemoteEarlyPipeUse
{
    /// <summary>The remote does not offer it (no L field).</summary>
    NotOffered,

    /// <summary>A lockstep session toward a remote that offers it: the reply was learnt or confirmed ("L.").</summary>
    Offered,

    /// <summary>The first flight went out before the banner ("L*").</summary>
    Used,
}
