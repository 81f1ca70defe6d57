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
}
