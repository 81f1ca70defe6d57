namespace EarlyPipeProxy.Sessions.Backend;

/// <summary>Why a backend connection stopped being usable.</summary>
public enum BackendFailure
{
    Unreachable,
    Closed,
    Timeout,
    MalformedReply,
}
