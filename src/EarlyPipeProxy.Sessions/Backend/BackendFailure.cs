namespace EarlyPipeProxy.Sessions.Backend;

/// <summary>Why a backend connection stopped being usable.</summary>
public enum BackendFailure
{
    Unreachable,
    Closed,
    Timeout,
    MalformedReply,

    /// <summary>The STARTTLS handshake with the backend failed (certificate not trusted, wrong name, protocol error).</summary>
    TlsFailed,
}
