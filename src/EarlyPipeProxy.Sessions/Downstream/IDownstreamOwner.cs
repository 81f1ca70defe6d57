namespace EarlyPipeProxy.Sessions.Downstream;

/// <summary>The session a <see cref="DownstreamChannel"/> serves, as the channel needs it.</summary>
public interface IDownstreamOwner
{
    /// <summary>
    /// Delivers what the session owes the peer before the channel waits for input; false when the session is over, so
    /// the wait is skipped and the read comes back woken.
    /// </summary>
    ValueTask<bool> SettleAsync();

    /// <summary>
    /// Asked after settling, before the wait for the peer's next command: the upstream connection when it owes nothing
    /// (so anything it says meanwhile is its own: a 421, a close, or a reply out of step), to be watched during the
    /// wait; null when there is none yet or a reply from it is still due.
    /// </summary>
    Upstream.UpstreamChannel? IdleUpstream { get; }
}
