namespace EarlyPipeProxy.Sessions.Logging;

/// <summary>
/// Every log EventId the proxy uses, one constant each, named after what it logs: a new message takes a free number
/// here, so no two messages share one. The hundreds group them: 1xx sessions, 2xx connection handling,
/// 3xx outbound policy and certificate reloads, 4xx health, 5xx listeners and shutdown, 6xx EHLO cache, 7xx control socket, 8xx the per-client trace.
/// </summary>
public static class LogEventIds
{
    // Sessions, both directions (SessionLog).
    public const int SessionLine = 100;
    public const int EarlyInputRefused = 101;
    public const int UpstreamUnavailable = 102;
    public const int BareLineEndingInData = 103;
    public const int InputAfterStartTls = 104;
    public const int PeerTlsHandshakeFailed = 105;
    public const int UpstreamTlsHandshakeFailed = 106;
    public const int UpstreamClosedIdleSession = 107;

    // Connection handling, both directions (Host: SessionConnectionRunner, OutboundConnectionHandler).
    // 210 and 211 were the outbound copies of 200 and 201; one message has one number now, so they are retired.
    public const int ConnectionLimitReached = 200;
    public const int SessionFailed = 201;
    public const int NoOriginalDestination = 212;
    public const int SenderNotAllowed = 213;
    public const int OriginalDestinationIsThisProxy = 214;
    public const int AddressConnectionLimitReached = 220;
    public const int AddressRateLimitReached = 221;

    // PROXY headers from load balancers (Inbound/ProxyHeaderReceiver): refused (the connection closed), and, at debug
    // level, taken or done without; 242 the listener's balancers at start (Host: ListenerAnnouncer).
    public const int ProxyHeaderRefused = 240;
    public const int ProxyHeaderReceived = 241;
    public const int ListenerProxyHeaders = 242;

    // Outbound policy (SessionLog). 301-304 were the outbound copies of 100-106 and are retired.
    public const int EarlyFlightRedone = 300;

    // Outbound warm connections (Outbound/Warm): a parked connection given up, one found stale at reuse.
    public const int WarmConnectionDropped = 320;
    public const int WarmConnectionStale = 321;

    // Certificates and configuration reloads (Host: ConfigurationReloader).
    public const int CertificateReloaded = 310;
    public const int CertificateReloadFailed = 311;
    public const int CertificateNotLoaded = 312;
    public const int CertificateExpired = 313;
    public const int CertificateNotYetValid = 314;
    public const int ListenerNotOpened = 315;
    public const int ConfigurationReloaded = 330;
    public const int ConfigurationReloadProblem = 331;
    public const int ConfigurationReloadRejected = 332;
    public const int ConfigurationNeedsRestart = 333;

    // Health (Host: UpstreamProber). 400: a backend or fixed upstream is up (first probe, or back); 401: it went down
    // (or down for another reason); 402: it failed its first probe, at start-up.
    public const int UpstreamHealthChanged = 400;
    public const int UpstreamDown = 401;
    public const int UpstreamDownAtStart = 402;

    // Listeners and shutdown (Host: ListenerAnnouncer, GracefulStop). These were 300-304, the outbound session's numbers.
    public const int ListeningInbound = 500;
    public const int Stopping = 501;
    public const int ListenerTls = 502;
    public const int ListenerTlsNotForwarded = 503;
    public const int ListeningOutbound = 504;
    public const int StoppingHard = 505;

    // TCP Fast Open on inbound listeners (Host: FastOpenListeners), 510-512.
    public const int FastOpenKernelRefuses = 510;
    public const int FastOpenNotSet = 511;
    public const int FastOpenOn = 512;

    // EHLO cache store (src/EarlyPipeProxy.Sessions/EhloCache/LiteDbEhloStore.cs), 600-605.
    public const int EhloCacheUnreadable = 600;
    public const int EhloCacheMovedAside = 601;
    public const int EhloCachePersistenceOff = 602;
    public const int EhloCacheRecordDropped = 603;
    public const int EhloCacheCloseFailed = 604;
    public const int EhloCacheInUse = 605;

    // EHLO cache writer (src/EarlyPipeProxy.Sessions/EhloCache/EhloCacheWriter.cs), 610-612.
    public const int EhloCacheWriteFailed = 610;
    public const int EhloCacheRebuilt = 611;
    public const int EhloCacheRebuildFailed = 612;

    // EHLO cache (src/EarlyPipeProxy.Sessions/EhloCache/EhloCache.Log.cs), 620-623.
    public const int EhloCacheOpened = 620;
    public const int EhloCacheLearnt = 621;
    public const int EhloCacheRewritten = 622;
    public const int EhloCacheFlushed = 623;

    // Control socket (Host: ControlServer), 700-708.
    public const int ControlListening = 700;
    public const int ControlStaleSocketReplaced = 701;
    public const int ControlRequestServed = 702;
    public const int ControlRequestRefused = 703;
    public const int ControlRequestTimedOut = 704;
    public const int ControlRequestFailed = 705;
    public const int ControlAcceptFailed = 706;
    public const int ControlSocketRemoveFailed = 707;
    public const int ControlStatusServed = 708;

    // Per-client trace (src/EarlyPipeProxy.Sessions/Tracing/SessionTrace.cs, TraceLog): one command or reply line.
    public const int SessionTrace = 800;
}
