namespace EarlyPipeProxy.Sessions.Logging;

/// <summary>
/// Every log EventId the proxy uses, one constant each, named after what it logs: a new message takes a free number
/// here, so no two messages share one. The hundreds group them: 1xx inbound session, 2xx connection handling,
/// 3xx outbound session and certificate reloads, 4xx health, 5xx listeners and shutdown, 6xx EHLO cache, 7xx control socket.
/// </summary>
/// <remarks>
/// The Host's LoggerMessage attributes use these constants. The session and EHLO cache messages are listed so their
/// numbers are taken; their LoggerMessage attributes still carry the literal numbers until those classes adopt this
/// registry (they must then use the constant of the same value).
/// </remarks>
public static class LogEventIds
{
    // Inbound session (src/EarlyPipeProxy.Sessions/Inbound/InboundSession.Log.cs), 100-105.
    public const int InboundSessionLine = 100;
    public const int InboundEarlyInputRefused = 101;
    public const int InboundBackendUnavailable = 102;
    public const int InboundBareLineEnding = 103;
    public const int InboundInputAfterStartTls = 104;
    public const int InboundClientHandshakeFailed = 105;

    // Connection handling, both directions (Host: SessionConnectionRunner, OutboundConnectionHandler).
    // 210 and 211 were the outbound copies of 200 and 201; one message has one number now, so they are retired.
    public const int ConnectionLimitReached = 200;
    public const int SessionFailed = 201;
    public const int NoOriginalDestination = 212;

    // Outbound session (src/EarlyPipeProxy.Sessions/Outbound/OutboundSession.Log.cs), 300-304.
    public const int OutboundSessionLine = 300;
    public const int OutboundRemoteUnavailable = 301;
    public const int OutboundEarlyFlightRedone = 302;
    public const int OutboundBareLineEnding = 303;
    public const int OutboundRemoteTlsFailed = 304;

    // Certificate reloads (Host: CertificateReloader).
    public const int CertificateReloaded = 310;
    public const int CertificateReloadFailed = 311;

    // Health (Host: UpstreamProber).
    public const int UpstreamHealthChanged = 400;

    // Listeners and shutdown (Host: ListenerAnnouncer). These were 300-304, the outbound session's numbers.
    public const int ListeningInbound = 500;
    public const int Stopping = 501;
    public const int ListenerTls = 502;
    public const int ListenerTlsNotForwarded = 503;
    public const int ListeningOutbound = 504;

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

    // Control socket (Host: ControlServer), 700-707.
    public const int ControlListening = 700;
    public const int ControlStaleSocketReplaced = 701;
    public const int ControlRequestServed = 702;
    public const int ControlRequestRefused = 703;
    public const int ControlRequestTimedOut = 704;
    public const int ControlRequestFailed = 705;
    public const int ControlAcceptFailed = 706;
    public const int ControlSocketRemoveFailed = 707;
}
