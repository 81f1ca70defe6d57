namespace EarlyPipeProxy.Sessions.Configuration;

/// <summary>
/// An outbound listener's cache of warm remote connections ("ConnectionCache"): after a sender's session the remote
/// connection is reset (RSET) and parked instead of closed, and the next session to that remote, in the same TLS phase
/// with the same TLS policy and EHLO name, sends its MAIL and RCPT over it: no connect, banner or EHLO. Modelled on
/// Postfix's scache (connection_cache_ttl_limit, smtp_connection_reuse_count_limit, smtp_connection_reuse_time_limit)
/// and Exim's continued connections (connection_max_messages). Every value is read when it is used: a reload applies
/// it at once, to connections parked from then on.
/// </summary>
public sealed class ConnectionCacheOptions
{
    /// <summary>Park clean remote connections for the next session; false closes each with QUIT as before.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>
    /// How long a parked connection waits for a session (Postfix's connection_cache_ttl_limit, 2s; here longer, since
    /// a lockstep sender's next message may be seconds away). Well below remote servers' own idle limits (Postfix's
    /// smtpd_timeout 300s, Exim's smtp_receive_timeout 5m), so the remote rarely closes one first.
    /// </summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Messages (end-of-data verdicts) one connection carries at most (Postfix's smtp_connection_reuse_count_limit).</summary>
    public int MaxMessages { get; set; } = 10;

    /// <summary>Age, from its connect, past which a connection is not parked or reused (Postfix's smtp_connection_reuse_time_limit, 300s).</summary>
    public TimeSpan MaxAge { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Connections parked at most, all remotes together.</summary>
    public int MaxConnections { get; set; } = 100;

    /// <summary>Connections parked at most per remote (address and port).</summary>
    public int MaxConnectionsPerDestination { get; set; } = 4;

    /// <summary>Throws a <see cref="FormatException"/> naming <paramref name="what"/> and the key when a value cannot work.</summary>
    public void Validate(string what)
    {
        if (IdleTimeout <= TimeSpan.Zero || MaxAge <= TimeSpan.Zero)
        {
            throw new FormatException($"{what}: ConnectionCache:IdleTimeout and ConnectionCache:MaxAge must be positive.");
        }

        if (MaxMessages < 1 || MaxConnections < 1 || MaxConnectionsPerDestination < 1)
        {
            throw new FormatException(
                $"{what}: ConnectionCache:MaxMessages, MaxConnections and MaxConnectionsPerDestination must be at least 1 (set Enabled false to turn it off).");
        }
    }
}
