namespace EarlyPipeProxy.Sessions.Telemetry;

/// <summary>The "outcome" label of a session, from its end= reason: three values, so that the label stays bounded.</summary>
public static class SessionOutcomes
{
    public const string Completed = "completed";

    public const string Closed = "closed";

    public const string Error = "error";

    public static string From(string end) => end switch
    {
        "QUIT" => Completed,
        "client closed" or "sender closed" or "shutdown" => Closed,
        _ => Error,
    };
}
