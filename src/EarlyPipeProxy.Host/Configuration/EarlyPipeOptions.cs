using EarlyPipeProxy.Sessions.Configuration;

namespace EarlyPipeProxy.Host.Configuration;

/// <summary>The root of config/earlypipe.json; every key can be overridden by EARLYPIPE__Section__Key environment variables and --Section:Key=value arguments.</summary>
public sealed class EarlyPipeOptions
{
    public InboundListenerOptions[] Inbound { get; set; } = [];

    public OutboundListenerOptions[] Outbound { get; set; } = [];

    /// <summary>Bounds of the client-name lookups for XCLIENT, shared by all inbound listeners.</summary>
    public ClientNameLookupOptions ClientNameLookup { get; set; } = new();

    /// <summary>
    /// The whole of a graceful stop (README, Stopping): a message may still end during its first half (the cut-off is
    /// halfway), a verdict is awaited to its end; then every session still open is cut. Twice the longest verdict the
    /// upstream takes, and less than the supervisor's grace period.
    /// </summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(30);
}
