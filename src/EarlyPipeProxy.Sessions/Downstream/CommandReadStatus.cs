namespace EarlyPipeProxy.Sessions.Downstream;

/// <summary>What <see cref="DownstreamChannel.ReadCommandAsync"/> found.</summary>
public enum CommandReadStatus
{
    /// <summary>A whole command line; consume it with <see cref="DownstreamChannel.Consume"/> once it has been used.</summary>
    Command,

    /// <summary>A line over the limit; its rest was read and dropped. The peer is owed 500 5.5.2.</summary>
    TooLong,

    /// <summary>A line ended by a bare CR or LF; it was dropped. The peer is owed 500 5.5.2.</summary>
    BareLineEnding,

    /// <summary>The peer closed the connection, between commands or (<see cref="CommandRead.MidCommand"/>) within one.</summary>
    Closed,

    /// <summary>
    /// The read was woken without input: a graceful close was requested, or settling ended the session. The session
    /// decides at the top of its loop.
    /// </summary>
    Woken,
}
