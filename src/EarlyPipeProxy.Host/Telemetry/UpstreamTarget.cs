using System.Net;
using EarlyPipeProxy.Sessions.Configuration;

namespace EarlyPipeProxy.Host.Telemetry;

/// <summary>
/// A backend (inbound listener) or fixed upstream (outbound listener) that /healthz depends on, with the listener whose
/// sessions use it: its probe does what those sessions do.
/// </summary>
public sealed record UpstreamTarget(string Listener, string Direction, IPEndPoint EndPoint)
{
    public InboundListener? Inbound { get; init; }

    public OutboundListener? Outbound { get; init; }

    /// <summary>What the server is to the listener: "backend" (inbound) or "upstream" (outbound).</summary>
    public string Role => Direction == Sessions.Telemetry.Direction.Inbound ? "backend" : "upstream";

    public static UpstreamTarget For(InboundListener listener)
    {
        ArgumentNullException.ThrowIfNull(listener);
        return new(listener.Name, Sessions.Telemetry.Direction.Inbound, listener.BackendEndPoint) { Inbound = listener };
    }

    /// <summary>The fixed upstream of <paramref name="listener"/>; null when it relays to each connection's original destination.</summary>
    public static UpstreamTarget? For(OutboundListener listener)
    {
        ArgumentNullException.ThrowIfNull(listener);
        return listener.Upstream is { } upstream
            ? new(listener.Name, Sessions.Telemetry.Direction.Outbound, upstream) { Outbound = listener }
            : null;
    }

    /// <summary>"backend smtp 127.0.0.1:25": how /healthz, the log and `earlypipe status` name it.</summary>
    public override string ToString() => $"{Role} {Listener} {EndPoint}";
}
