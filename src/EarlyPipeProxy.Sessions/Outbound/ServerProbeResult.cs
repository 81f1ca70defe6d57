using EarlyPipeProxy.Protocol.Capabilities;

namespace EarlyPipeProxy.Sessions.Outbound;

/// <summary>What a server showed the probe: its greeting, its EHLO reply, and whether it offers early pipelining.</summary>
public sealed record ServerProbeResult(
    int BannerCode,
    string BannerText,
    int EhloCode,
    EhloCapabilities? Capabilities,
    string? EarlyPipeKeyword,
    TimeSpan ConnectTime,
    TimeSpan BannerTime,
    TimeSpan EhloTime)
{
    /// <summary>The TLS of a TLS-on-connect probe, as X= shows it ("TLS1.3:TLS_AES_256_GCM_SHA384"); null in cleartext.</summary>
    public string? Tls { get; init; }

    /// <summary>Early pipelining needs both the keyword (any of its three spellings) and PIPELINING (Exim's rule).</summary>
    public bool OffersEarlyPipelining => EarlyPipeKeyword is not null;
}
