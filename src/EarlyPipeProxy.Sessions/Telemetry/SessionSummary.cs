namespace EarlyPipeProxy.Sessions.Telemetry;

/// <summary>What a session reports when it ends (one <see cref="ProxyMetrics.SessionEnded"/> call per session).</summary>
/// <param name="Direction">"inbound" or "outbound".</param>
/// <param name="Early">"used", "advertised" (offered by the proxy inbound / by the remote outbound, not used) or "not_advertised".</param>
/// <param name="Tls">"none", "starttls" or "implicit": the client's side inbound, the remote's side outbound.</param>
/// <param name="Outcome">"completed" (QUIT), "closed" (the peer left without QUIT) or "error".</param>
/// <param name="RoundTripsSaved">Lockstep round trips minus those waited for (see README, "Counting round trips").</param>
/// <param name="RoundTripTime">The TCP round-trip time measured on the path the saving is about; null when unknown.</param>
public readonly record struct SessionSummary(
    string Listener,
    string Direction,
    string Early,
    string Tls,
    string Outcome,
    int MessagesAccepted,
    int MessagesRejected,
    int RoundTripsSaved,
    TimeSpan? RoundTripTime,
    long BytesFromClient,
    long BytesToClient);
