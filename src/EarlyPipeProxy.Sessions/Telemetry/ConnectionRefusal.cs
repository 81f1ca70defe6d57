namespace EarlyPipeProxy.Sessions.Telemetry;

/// <summary>The "reason" label of earlypipe.connections_refused: which limit turned a connection away.</summary>
public static class ConnectionRefusal
{
    /// <summary>The listener had <see cref="Configuration.ListenerLimits.MaxConnections"/> open.</summary>
    public const string ListenerFull = "listener_full";

    /// <summary>The client's address had <see cref="Configuration.ListenerLimits.MaxConnectionsPerAddress"/> open.</summary>
    public const string AddressConnections = "address_connections";

    /// <summary>The client's address passed <see cref="Configuration.ListenerLimits.MaxConnectionsPerAddressPerMinute"/>.</summary>
    public const string AddressRate = "address_rate";
}
