namespace EarlyPipeProxy.Sessions.Upstream;

/// <summary>Why an upstream connection stopped being usable.</summary>
public enum UpstreamFailure
{
    Unreachable,
    Closed,
    Timeout,
    MalformedReply,

    /// <summary>The STARTTLS handshake with the upstream failed (certificate not trusted, wrong name, protocol error).</summary>
    TlsFailed,
}
