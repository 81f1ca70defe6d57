namespace EarlyPipeProxy.Sessions.Telemetry;

/// <summary>The "direction" label: which side of a legacy MTA the listener serves.</summary>
public static class Direction
{
    public const string Inbound = "inbound";

    public const string Outbound = "outbound";
}
