namespace EarlyPipeProxy.Sessions.Downstream;

/// <summary>The session a <see cref="DownstreamChannel"/> serves, as the channel needs it.</summary>
public interface IDownstreamOwner
{
    /// <summary>
    /// Delivers what the session owes the peer before the channel waits for input; false when the session is over, so
    /// the wait is skipped and the read comes back woken.
    /// </summary>
    ValueTask<bool> SettleAsync();
}
