namespace EarlyPipeProxy.Sessions.Configuration;

public sealed class ListenerLimits
{
    /// <summary>The smallest <see cref="MaxUnflushedReplyBytes"/> accepted: below it a long EHLO reply alone would force a flush per reply.</summary>
    public const int MinUnflushedReplyBytes = 1024;

    /// <summary>Command line length without CRLF (RFC 5321 §4.5.3.1.4: 512 octets including CRLF; 510 would be strict).</summary>
    public int MaxLineLength { get; set; } = 512;

    /// <summary>AUTH lines may carry SASL data up to 12288 octets (RFC 4954 §4).</summary>
    public int MaxAuthLineLength { get; set; } = 12288;

    /// <summary>Reply lines from the backend; RFC 5321 says 512, real servers are sometimes longer.</summary>
    public int MaxReplyLineLength { get; set; } = 2048;

    /// <summary>Commands relayed to the backend before their replies are collected; more wait (back-pressure, not an error).</summary>
    public int MaxPipelinedCommands { get; set; } = 100;

    /// <summary>
    /// Replies to a peer held unflushed at most: past it the session flushes before it reads the peer's next command
    /// or data, so a peer that pipelines without reading its replies is held back by its own TCP window instead of
    /// growing the proxy's memory, and is dropped when it has not read for the command timeout.
    /// </summary>
    public int MaxUnflushedReplyBytes { get; set; } = 64 * 1024;

    /// <summary>Concurrent client connections on this listener; more get 421 4.7.0 at once.</summary>
    public int MaxConnections { get; set; } = 1000;

    /// <summary>
    /// Concurrent connections from one client address (an IPv6 client's /64) on this listener; more get 421 4.7.0 at
    /// once; 0 turns the cap off. Postfix's smtpd_client_connection_count_limit and its default: more than twice what
    /// one legitimate MTA opens to one destination (Postfix's default_destination_concurrency_limit is 20), while
    /// filling the default <see cref="MaxConnections"/> takes twenty addresses.
    /// </summary>
    public int MaxConnectionsPerAddress { get; set; } = 50;

    /// <summary>
    /// Connection attempts from one client address (an IPv6 client's /64) per minute on this listener; past it they
    /// get 421 4.7.0 until the minute is over; refused attempts count too, as in Postfix's anvil. 0 turns the limit
    /// off. Postfix's smtpd_client_connection_rate_limit is off by default; here each connection also costs a backend
    /// connection, so the default is on but far above a legitimate sender's churn (five a second, every second).
    /// </summary>
    public int MaxConnectionsPerAddressPerMinute { get; set; } = 300;

    /// <summary>
    /// Client addresses and CIDR networks the two per-address limits do not apply to (Postfix's
    /// smtpd_client_event_limit_exceptions). Unset: loopback (127.0.0.0/8, ::1), where health checks and the local
    /// MTA come from. An empty list (or ":") exempts no one.
    /// </summary>
    public string[]? AddressLimitExceptions { get; set; }

    /// <summary>Throws a <see cref="FormatException"/> naming <paramref name="what"/> and the key when a value cannot work.</summary>
    public void ValidateAddressLimits(string what)
    {
        if (MaxConnectionsPerAddress < 0)
        {
            throw new FormatException($"{what}: Limits:MaxConnectionsPerAddress must be 0 (off) or more (it is {MaxConnectionsPerAddress}).");
        }

        if (MaxConnectionsPerAddressPerMinute < 0)
        {
            throw new FormatException(
                $"{what}: Limits:MaxConnectionsPerAddressPerMinute must be 0 (off) or more (it is {MaxConnectionsPerAddressPerMinute}).");
        }

        try
        {
            AddressList.Parse(AddressLimitExceptions ?? []);
        }
        catch (FormatException ex)
        {
            throw new FormatException($"{what}: Limits:AddressLimitExceptions: {ex.Message}", ex);
        }
    }
}
