using System.Net;

namespace EarlyPipeProxy.Host.Telemetry;

/// <summary>A backend (inbound listener) or fixed upstream (outbound listener) that /healthz depends on.</summary>
public sealed record UpstreamTarget(string Listener, string Direction, IPEndPoint EndPoint);
