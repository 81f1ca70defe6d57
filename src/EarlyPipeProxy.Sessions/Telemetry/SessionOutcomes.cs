namespace EarlyPipeProxy.Sessions.Telemetry;

/// <summary>The "outcome" label of a session: three values, so that the label stays bounded (see <see cref="Lifetime.SessionEndText.Outcome"/>).</summary>
public static class SessionOutcomes
{
    public const string Completed = "completed";

    public const string Closed = "closed";

    public const string Error = "error";
}
