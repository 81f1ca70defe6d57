namespace EarlyPipeProxy.Sessions.Backend;

/// <summary>
/// The backend connection failed: the session answers every pending command with 421 4.4.2 and closes.
/// An exception because it unwinds from any depth of the relay; ordinary SMTP refusals are replies, not exceptions.
/// </summary>
public sealed class BackendUnavailableException : Exception
{
    public BackendUnavailableException(BackendFailure failure, string message, Exception? inner = null)
        : base(message, inner) => Failure = failure;

    public BackendUnavailableException()
        : this(BackendFailure.Closed, "backend connection closed")
    {
    }

    public BackendUnavailableException(string message)
        : this(BackendFailure.Closed, message)
    {
    }

    public BackendUnavailableException(string message, Exception inner)
        : this(BackendFailure.Closed, message, inner)
    {
    }

    public BackendFailure Failure { get; }
}
