namespace EarlyPipeProxy.Sessions.Outbound.Warm;

/// <summary>How a parked connection's wait ended.</summary>
internal enum ParkedEnd
{
    /// <summary>A session took it.</summary>
    Taken,

    /// <summary>ConnectionCache:IdleTimeout (or MaxAge) passed with no session for it: QUIT.</summary>
    IdleTimeout,

    /// <summary>The remote closed it (or it was reset).</summary>
    Closed,

    /// <summary>The remote said 421 (its own timeout, a stop): it is closing.</summary>
    Closing,

    /// <summary>The remote answered the RSET with anything but 250.</summary>
    ResetRefused,

    /// <summary>The remote said something nothing asked for (a second reply to RSET, garbage): out of step.</summary>
    OutOfStep,

    /// <summary>The proxy is stopping: QUIT.</summary>
    Stopping,
}
