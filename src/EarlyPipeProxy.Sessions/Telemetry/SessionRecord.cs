using System.Diagnostics;
using System.Globalization;
using System.Net;
using EarlyPipeProxy.Sessions.Lifetime;
using EarlyPipeProxy.Sessions.Logging;
using EarlyPipeProxy.Sessions.Upstream;
using Microsoft.Extensions.Logging;

namespace EarlyPipeProxy.Sessions.Telemetry;

/// <summary>
/// What one session did, kept as it happens and reported once when it ends: the Exim-style session line and the
/// metrics both come from here, so they cannot disagree. Shared by both directions; which counts a direction keeps
/// (whose replies are round trips, say) is the session's policy.
/// </summary>
public sealed class SessionRecord
{
    private readonly long _started = Stopwatch.GetTimestamp();
    // Queue ids past this many are counted, not listed: the session line stays bounded however long the session.
    private const int MaxQueueIdsListed = 32;

    private RoundTripCounter _roundTrips;
    private List<string>? _queueIds;
    private int _queueIdsNotListed;

    public SessionRecord(string direction, string listener, IPEndPoint peer, IPEndPoint upstream, ILogger logger, ProxyMetrics? metrics)
    {
        Direction = direction;
        Listener = listener;
        Peer = peer;
        Upstream = upstream;
        Logger = logger;
        Metrics = metrics;
    }

    /// <summary><see cref="Telemetry.Direction.Inbound"/> or <see cref="Telemetry.Direction.Outbound"/>.</summary>
    public string Direction { get; }

    public string Listener { get; }

    /// <summary>The connection the session serves: the client inbound, the sender outbound.</summary>
    public IPEndPoint Peer { get; }

    /// <summary>The server behind the proxy: the backend inbound, the remote outbound.</summary>
    public IPEndPoint Upstream { get; }

    public ILogger Logger { get; }

    public ProxyMetrics? Metrics { get; }

    public int Commands { get; set; }

    public int Recipients { get; set; }

    public int MessagesAccepted { get; set; }

    public int MessagesRejected { get; set; }

    public long BytesFromPeer { get; set; }

    public long BytesToPeer { get; set; }

    public EarlyPipeUse Early { get; set; }

    /// <summary>The peer's TLS with the proxy: " X=TLS1.3:…", with '*' when resumed; empty in cleartext.</summary>
    public string PeerTls { get; private set; } = string.Empty;

    /// <summary>"none", "starttls" or "implicit", for the sessions metric.</summary>
    public string TlsLabel { get; set; } = "none";

    /// <summary>The proxy's TLS with the upstream, described like <see cref="PeerTls"/>.</summary>
    public string UpstreamTls { get; private set; } = string.Empty;

    /// <summary>
    /// Outbound: what the session did with warm remote connections, for the session line's W= field: "reused" (its
    /// mail went over a parked connection), "stale" (a parked one failed at reuse and a fresh one took over unseen),
    /// "parked" (its connection was left for the next session), joined by '+'; null when none of them.
    /// </summary>
    public string? Warm { get; private set; }

    /// <summary>Adds <paramref name="what"/> ("reused", "stale", "parked") to <see cref="Warm"/>.</summary>
    public void WarmConnection(string what) => Warm = Warm is null ? what : Warm + "+" + what;

    /// <summary>
    /// The upstream's TLS on a connection an earlier session secured (a warm connection reused): described as that
    /// session had it, with no handshake counted, as none happened in this one.
    /// </summary>
    public void UpstreamTlsReused(string upstreamTlsField, string kind)
    {
        UpstreamTls = upstreamTlsField;
        TlsLabel = kind;
    }

    /// <summary>Why an outbound early flight was redone in lockstep, for the session line's redo= field.</summary>
    public string? Redo { get; set; }

    public SessionEnd End { get; private set; } = SessionEnd.PeerClosed;

    /// <summary>
    /// This session's trace when the peer's address is one the listener traces (Trace:Clients); null, and no cost,
    /// otherwise. The channels write every command and reply through it.
    /// </summary>
    public Tracing.SessionTrace? Trace { get; set; }

    /// <summary>
    /// The upstream has the end of a message and its verdict has not been relayed yet: an abort now may leave a message
    /// delivered that the peer never saw accepted (<see cref="SessionEnd.AbortedAwaitingVerdict"/>).
    /// </summary>
    public bool AwaitingVerdict { get; set; }

    /// <summary>The upstream's greeting code, for <see cref="SessionEnd.UpstreamGreeting"/>.</summary>
    public string? EndDetail { get; private set; }

    public UpstreamFailure UpstreamFailure { get; private set; }

    /// <summary>
    /// The TCP round-trip time the saving is about (the client's inbound, the remote's outbound), read once when the
    /// session ends, before the connection it is read from closes.
    /// </summary>
    public TimeSpan? RoundTripTime { get; set; }

    /// <summary>The round trips the side that saves them (the client inbound, the proxy toward the remote outbound) spent.</summary>
    public ref RoundTripCounter RoundTrips => ref _roundTrips;

    /// <summary>
    /// The upstream accepted a message and named its queue id (Protocol's QueueIdParser: bounded, safe characters
    /// only), so the session line can point into the upstream's own log.
    /// </summary>
    public void MessageQueued(string queueId)
    {
        _queueIds ??= [];
        if (_queueIds.Count < MaxQueueIdsListed)
        {
            _queueIds.Add(queueId);
        }
        else
        {
            _queueIdsNotListed++;
        }
    }

    public void Ended(SessionEnd end, string? detail = null)
    {
        End = end;
        EndDetail = detail;
    }

    public void EndedUnavailable(UpstreamFailure failure)
    {
        End = SessionEnd.UpstreamUnavailable;
        UpstreamFailure = failure;
    }

    public void PeerTlsEstablished(string description, bool resumed, string kind)
    {
        PeerTls = " X=" + description + (resumed ? "*" : string.Empty);
        TlsLabel = Direction == Telemetry.Direction.Inbound ? kind : TlsLabel;
        Metrics?.TlsHandshake(Listener, Direction, "client", resumed);
    }

    /// <param name="kind">Outbound, the session's TLS label: "starttls", or "implicit" for TLS on connect.</param>
    public void UpstreamTlsEstablished(string description, bool resumed, string kind = "starttls")
    {
        UpstreamTls = (Direction == Telemetry.Direction.Inbound ? " BX=" : " UX=") + description + (resumed ? "*" : string.Empty);
        TlsLabel = Direction == Telemetry.Direction.Outbound ? kind : TlsLabel;
        Metrics?.TlsHandshake(Listener, Direction, "upstream", resumed);
    }

    /// <summary>A reply written to the peer: counted by class.</summary>
    public void RepliedToPeer(int code)
    {
        if (code > 0)
        {
            Metrics?.Reply(Listener, Direction, code);
        }
    }

    public string DescribeEnd() => SessionEndText.Describe(End, Direction, EndDetail, UpstreamFailure);

    /// <summary>The session line and the session's metrics; called once, when the session is over.</summary>
    public void Report()
    {
        Metrics?.SessionEnded(new SessionSummary(
            Listener,
            Direction,
            Early switch { EarlyPipeUse.Used => "used", EarlyPipeUse.Advertised => "advertised", _ => "not_advertised" },
            TlsLabel,
            SessionEndText.Outcome(End),
            MessagesAccepted,
            MessagesRejected,
            _roundTrips.Saved,
            RoundTripTime,
            BytesFromPeer,
            BytesToPeer));
        if (!Logger.IsEnabled(LogLevel.Information))
        {
            return;
        }

        var inbound = Direction == Telemetry.Direction.Inbound;
        var earlyField = Early switch
        {
            EarlyPipeUse.Used => " L*",
            EarlyPipeUse.Advertised => " L.",
            _ => string.Empty,
        };
        SessionLog.SessionLine(Logger, inbound ? "session" : "outbound", Peer.Address, Peer.Port, Listener, inbound ? "B" : "U", Upstream,
            earlyField, Warm is null ? string.Empty : " W=" + Warm, PeerTls, UpstreamTls, MessagesAccepted, Recipients, Commands, BytesFromPeer, BytesToPeer,
            Stopwatch.GetElapsedTime(_started).TotalSeconds.ToString("0.000", CultureInfo.InvariantCulture),
            Redo is null ? string.Empty : " redo=\"" + Redo + "\"", QueueField(), DescribeEnd());
    }

    /// <summary>" Q=id" for each message the upstream queued, so grep "Q=id" finds the session of any one of them.</summary>
    private string QueueField()
    {
        if (_queueIds is null)
        {
            return string.Empty;
        }

        var field = new System.Text.StringBuilder();
        foreach (var id in _queueIds)
        {
            field.Append(" Q=").Append(id);
        }

        if (_queueIdsNotListed > 0)
        {
            field.Append(" Q+=").Append(_queueIdsNotListed.ToString(CultureInfo.InvariantCulture));
        }

        return field.ToString();
    }
}
