namespace EarlyPipeProxy.EndToEnd.Tests.Infrastructure;

/// <summary>
/// One outbound listener of the proxy's config ("Outbound"): a lockstep sender connects to <see cref="ListenPort"/> and the
/// proxy relays its mail to <see cref="Upstream"/> (host:port), early-pipelined when the EHLO cache allows it.
/// </summary>
public sealed record OutboundListenerSpec(string Name, string Upstream)
{
    public int ListenPort { get; init; } = Peers.FreePort();

    /// <summary>"EarlyPipelining": use a cached EHLO reply to send EHLO, MAIL, RCPT before the remote's banner.</summary>
    public bool EarlyPipelining { get; init; } = true;

    /// <summary>"HeloName" toward the upstream; null leaves the proxy's default.</summary>
    public string? HeloName { get; init; }

    /// <summary>"Tls": { "Mode" }: "None", "Opportunistic" or "Required"; null leaves the proxy's default.</summary>
    public string? TlsMode { get; init; }

    /// <summary>"Tls": { "VerifyCertificate" }; null leaves the proxy's default.</summary>
    public bool? VerifyCertificate { get; init; }

    /// <summary>"Tls": { "TrustedCaPath" }: PEM CA certificates anchoring the upstream's chain; null = the system store.</summary>
    public string? TrustedCaPath { get; init; }

    /// <summary>
    /// "ConnectionCache": { "Enabled" }: warm remote connections. Off unless a test asks: the other tests are about
    /// what a fresh connection does (the learning session, the early flight), which a parked connection would replace.
    /// </summary>
    public bool ConnectionCache { get; init; }

    /// <summary>"ConnectionCache": { "IdleTimeout" } ("30s"); null leaves the proxy's default.</summary>
    public string? ConnectionCacheIdleTimeout { get; init; }

    /// <summary>"Trace": { "Clients" }: the sender addresses whose sessions are traced; null leaves tracing off.</summary>
    public IReadOnlyList<string>? TraceClients { get; init; }
}
