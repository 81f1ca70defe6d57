namespace EarlyPipeProxy.Sessions.Messages;

/// <summary>How a message body read by <see cref="MessageBodyReader"/> ended.</summary>
public enum MessageBodyOutcome
{
    /// <summary>The exact CRLF.CRLF came; the sink has the whole body.</summary>
    Complete,

    /// <summary>
    /// A bare CR, LF or NUL came (SMTP smuggling): the sink abandoned the message, and the rest up to the terminator
    /// was read and dropped. The peer is owed 550 5.5.2 and the session ends.
    /// </summary>
    Refused,

    /// <summary>The peer closed the connection before the terminator.</summary>
    PeerLost,

    /// <summary>Settling ended the session while the body was being read.</summary>
    SessionOver,

    /// <summary>
    /// A graceful stop's cut-off came before the terminator: the sink never got the end of data. The caller resets the
    /// upstream (so it never takes the part for a whole message) and gives the peer 421 4.3.2.
    /// </summary>
    Stopped,
}
