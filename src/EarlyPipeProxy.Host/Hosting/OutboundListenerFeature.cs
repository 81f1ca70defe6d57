using EarlyPipeProxy.Sessions.Configuration;

namespace EarlyPipeProxy.Host.Hosting;

/// <summary>Tells the outbound connection handler which listener a connection came in on.</summary>
public sealed record OutboundListenerFeature(OutboundListener Listener);
