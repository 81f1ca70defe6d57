using EarlyPipeProxy.Sessions.Configuration;

namespace EarlyPipeProxy.Host.Configuration;

/// <summary>The root of config/earlypipe.json; every key can be overridden by EARLYPIPE__Section__Key environment variables and --Section:Key=value arguments.</summary>
public sealed class EarlyPipeOptions
{
    public InboundListenerOptions[] Inbound { get; set; } = [];

    public OutboundListenerOptions[] Outbound { get; set; } = [];

    /// <summary>Bounds of the client-name lookups for XCLIENT, shared by all inbound listeners.</summary>
    public ClientNameLookupOptions ClientNameLookup { get; set; } = new();

    /// <summary>How long a graceful shutdown lets sessions in flight finish before they are cut.</summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(30);
}
