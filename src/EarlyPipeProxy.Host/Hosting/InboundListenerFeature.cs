using EarlyPipeProxy.Sessions.Configuration;

namespace EarlyPipeProxy.Host.Hosting;

/// <summary>Tells the shared connection handler which listener a connection came in on.</summary>
public sealed record InboundListenerFeature(InboundListener Listener);
