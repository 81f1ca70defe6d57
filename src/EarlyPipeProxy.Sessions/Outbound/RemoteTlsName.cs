using System.Net;
using EarlyPipeProxy.Sessions.Configuration;

namespace EarlyPipeProxy.Sessions.Outbound;

/// <summary>The name an outbound listener's TLS toward its remote goes by, as far as configuration says it.</summary>
internal static class RemoteTlsName
{
    /// <summary>
    /// Tls:ServerName, else the host of Upstream when it is a name; null when there is neither (an original
    /// destination, or an Upstream given as an address): an address is no name for SNI (RFC 6066 §3).
    /// </summary>
    public static string? Configured(OutboundListenerSettings listener) =>
        listener.Options.Tls.ServerName
        ?? (listener.UpstreamHostName is { } host && !IPAddress.TryParse(host, out _) ? host : null);
}
