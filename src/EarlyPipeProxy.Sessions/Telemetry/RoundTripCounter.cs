namespace EarlyPipeProxy.Sessions.Telemetry;

/// <summary>
/// Counts the round trips a peer saved, from what the session sees of it. In lockstep every reply costs the waiting
/// side one round trip (the banner included). The round trips actually spent are the times the session, having
/// written replies, had to wait for more input (plus a last flight of replies that ends the session). Saved is the
/// difference: 0 for a lockstep peer; for an early-pipelining client that sent EHLO, MAIL, RCPT and BDAT before the
/// banner and then QUIT, 6 replies in 2 round trips save 4.
/// </summary>
public struct RoundTripCounter
{
    private int _replies;
    private int _sinceWait;
    private int _waits;

    public readonly int Replies => _replies;

    public readonly int Spent => _waits + (_sinceWait > 0 ? 1 : 0);

    public readonly int Saved => Math.Max(0, _replies - Spent);

    /// <summary>A reply was written, its code from <see cref="Protocol.Replies.ReplyCode.Peek(ReadOnlySpan{byte})"/> (codes of 0 are not replies: continuation data is not counted).</summary>
    public void Replied(int code)
    {
        if (code > 0)
        {
            _replies++;
            _sinceWait++;
        }
    }

    /// <summary>A reply nobody waits for (the remote's answer to a QUIT the sender already had answered): it would have
    /// cost a lockstep peer a round trip, and cost this one none.</summary>
    public void RepliedUnwaited(int code)
    {
        if (code > 0)
        {
            _replies++;
        }
    }

    /// <summary>The session is about to wait for the peer: the replies written since the last wait cost one round trip.</summary>
    public void Waited()
    {
        if (_sinceWait > 0)
        {
            _waits++;
            _sinceWait = 0;
        }
    }
}
