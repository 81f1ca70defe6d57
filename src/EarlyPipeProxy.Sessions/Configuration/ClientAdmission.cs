namespace EarlyPipeProxy.Sessions.Configuration;

/// <summary>What <see cref="ClientAddressLimiter.Admit"/> decided for one connection.</summary>
public enum ClientAdmission
{
    /// <summary>Counted: release it with <see cref="ClientAddressLimiter.Release"/> when the connection ends.</summary>
    Admitted,

    /// <summary>An exception address (or both limits off): not counted, nothing to release.</summary>
    Exempt,

    /// <summary>The address has <see cref="ListenerLimits.MaxConnectionsPerAddress"/> connections open already.</summary>
    TooManyConnections,

    /// <summary>The address made <see cref="ListenerLimits.MaxConnectionsPerAddressPerMinute"/> attempts this minute already.</summary>
    RateExceeded,
}
