namespace EarlyPipeProxy.Sessions.Upstream;

/// <summary>
/// The upstream connection failed: the session answers every pending command with 421 4.4.2 and closes.
/// An exception because it unwinds from any depth of the relay; ordinary SMTP refusals are replies, not exceptions.
/// </summary>
public sealed class UpstreamUnavailableException : Exception
{
    public UpstreamUnavailableException(UpstreamFailure failure, string message, Exception? inner = null)
        : base(message, inner) => Failure = failure;

    public UpstreamUnavailableException()
        : this(UpstreamFailure.Closed, "the server closed the connection")
    {
    }

    public UpstreamUnavailableException(string message)
        : this(UpstreamFailure.Closed, message)
    {
    }

    public UpstreamUnavailableException(string message, Exception inner)
        : this(UpstreamFailure.Closed, message, inner)
    {
    }

    public UpstreamFailure Failure { get; }

    /// <summary>
    /// The upstream's own 421 when it closed the session on its own (its timeout, a stop) while nothing was owed: the
    /// peer gets these words instead of the proxy's, so it learns why.
    /// </summary>
    public byte[]? LastWord { get; init; }
}
