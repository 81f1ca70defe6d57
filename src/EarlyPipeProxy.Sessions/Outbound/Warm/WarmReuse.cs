using System.Globalization;
using EarlyPipeProxy.Protocol.Capabilities;
using EarlyPipeProxy.Protocol.Commands;
using EarlyPipeProxy.Protocol.Replies;
using EarlyPipeProxy.Sessions.Configuration;
using EarlyPipeProxy.Sessions.EhloCache;
using EarlyPipeProxy.Sessions.Telemetry;
using EarlyPipeProxy.Sessions.Upstream;
using Microsoft.Extensions.Logging;

namespace EarlyPipeProxy.Sessions.Outbound.Warm;

/// <summary>
/// Outbound policy: one session's use of the listener's warm connections (<see cref="WarmConnections"/>). At the
/// session's first need of the remote its waiting commands (MAIL, RCPT) go over a parked connection, with no connect,
/// banner or EHLO; and at its clean end its connection is reset and parked for the next session instead of closed.
/// A parked connection that turns out stale (closed, its RSET refused, a 421, no answer, a failed write) is dropped
/// before any of its replies reaches the sender, and the session goes on as without it (the early flight, or lockstep):
/// what was sent on it was MAIL and RCPT, never DATA, so the remote holds nothing it could deliver and nothing is ever
/// sent twice. Once a warm connection has answered, it is the session's like any other: a remote lost after the end
/// of data gets the sender its 421/451 as on a fresh one, never a retry.
/// </summary>
internal sealed partial class WarmReuse
{
    // Postfix's smtp_rset_timeout: a parked connection's RSET is answered at once or the connection is not worth having.
    private static readonly TimeSpan ResetBound = TimeSpan.FromSeconds(20);

    private readonly WarmConnections _pool;
    private readonly OutboundListenerOptions _options;
    private readonly RemoteLink _remote;
    private readonly SessionRecord _record;

    public WarmReuse(WarmConnections pool, OutboundListenerOptions options, RemoteLink remote, SessionRecord record)
    {
        _pool = pool;
        _options = options;
        _remote = remote;
        _record = record;
    }

    /// <summary>
    /// The live capabilities of a connection parked for this session's remote, to greet the sender with when the EHLO
    /// cache has nothing (a remote without early pipelining): its MAIL and RCPT can then go over that connection.
    /// </summary>
    public EhloCapabilities? PeekCapabilities() => _pool.Peek(_remote.MayUse);

    /// <summary>
    /// Sends <paramref name="flight"/> (the commands waiting for the remote, never DATA) over a parked connection and
    /// returns their replies, the connection now the session's. Null when none was parked, or the one taken was stale
    /// (dropped; the session line says W=stale): the commands are still to send on a fresh connection.
    /// </summary>
    public async ValueTask<UpstreamReply[]?> TryFlightAsync(PendingReply[] flight)
    {
        if (_remote.Refusal is not null || _remote.Channel is not null || !_pool.Options.Enabled)
        {
            return null;
        }

        var warm = await _pool.TakeAsync(_remote.WarmKeys());
        if (warm is null)
        {
            _record.Metrics?.ConnectionCacheLookup(_record.Listener, "miss");
            return null;
        }

        var channel = UpstreamChannel.Adopt(warm.Connection, _remote.Deadline, _options.Timeouts, _options.Limits, _record, countsRoundTrips: true);
        string? stale;
        UpstreamReply[]? replies = null;
        try
        {
            (replies, stale) = await FlyAsync(channel, warm, flight);
        }
        catch (UpstreamUnavailableException ex) when (ex.Failure != UpstreamFailure.TlsFailed)
        {
            stale = ex.Message;
        }

        if (stale is not null)
        {
            // Nothing of it reached the sender; the remote may hold a MAIL and RCPTs on it, never a message.
            await channel.AbortAsync();
            _record.WarmConnection("stale");
            _record.Metrics?.ConnectionCacheLookup(_record.Listener, "stale");
            LogStale(_record.Logger, _record.Upstream, _record.Peer.Address, _record.Peer.Port, _record.Listener, stale);
            return null;
        }

        _remote.Adopt(warm, channel);
        if (warm.UpstreamTls.Length > 0)
        {
            _record.UpstreamTlsReused(warm.UpstreamTls, warm.TlsLabel);
        }

        // The replies a fresh lockstep connection would have cost before the first command: banner and EHLO, and
        // STARTTLS and EHLO again after it.
        var skipped = warm.Phase == TlsPhase.AfterStartTls ? 4 : 2;
        for (var i = 0; i < skipped; i++)
        {
            _record.RoundTrips.RepliedUnwaited(ReplyCode.Ok);
        }

        _record.WarmConnection("reused");
        _record.Metrics?.ConnectionCacheLookup(_record.Listener, "hit");
        return replies;
    }

    /// <summary>
    /// At the session's clean end (no transaction open there, no reply owed, the last transaction ended by a 250 to the
    /// end of data or to RSET, as the caller checked): RSET, and the connection parked with the RSET's answer still to
    /// read, so the next session need not wait for it. False when it is not to be parked (the cache off or full, the
    /// connection too old or past its messages, a TLS state another session must not inherit); the caller then ends it
    /// as before. A failed RSET write leaves the connection marked for a reset.
    /// </summary>
    public async ValueTask<bool> TryParkAsync()
    {
        var options = _pool.Options;
        if (_remote.Channel is not { IsClosed: false, AbortOnClose: false } channel || !options.Enabled || !_remote.MayPark
            || _remote.Messages >= options.MaxMessages || _remote.Deadline.Aborted.IsCancellationRequested)
        {
            return false;
        }

        // A remote that takes early flights gets each connection opened with one: the lockstep connection that learnt
        // its EHLO reply is closed, not parked, so the next session's early flight checks the cached reply against
        // the live one (the draft's rule) and the remote logs every proxied message as early pipelined (Exim's L*).
        if (_options.EarlyPipelining && !_remote.OpenedEarly && EarlyPipeKeywords.OffersEarlyPipelining(_remote.Capabilities!))
        {
            return false;
        }

        var age = _pool.Time.GetElapsedTime(_remote.ConnectedAt);
        if (age >= options.MaxAge)
        {
            return false;
        }

        var key = _remote.WarmKey(_remote.Key.Phase);
        if (!_pool.TryReserve(key.Destination))
        {
            return false;
        }

        var connection = channel.Connection;
        try
        {
            SmtpCommandWriter.WriteRset(connection.Output);
            using var bound = CancellationTokenSource.CreateLinkedTokenSource(_remote.Deadline.Aborted);
            bound.CancelAfter(ResetBound);
            await connection.FlushAsync(bound.Token);
        }
        catch (Exception ex) when (ex is UpstreamUnavailableException or OperationCanceledException or IOException or InvalidOperationException)
        {
            _pool.Unreserve(key.Destination);
            channel.AbortOnClose = true;
            return false;
        }

        var warm = new WarmConnection
        {
            Connection = connection,
            Capabilities = _remote.Capabilities!,
            Phase = _remote.Key.Phase,
            UpstreamTls = _record.UpstreamTls,
            TlsLabel = _record.TlsLabel,
            ConnectedAt = _remote.ConnectedAt,
            Messages = _remote.Messages,
            MaxReplyLineLength = _options.Limits.MaxReplyLineLength,
            OpenedEarly = _remote.OpenedEarly,
            ResetPending = true,
        };

        // The session's trace ends with the session; the connection is no longer the session's to close.
        connection.Trace = null;
        _remote.Channel = null;
        var wait = options.IdleTimeout < options.MaxAge - age ? options.IdleTimeout : options.MaxAge - age;
        _pool.Park(new ParkedConnection(key, warm, wait, _pool.Time, _record.Listener, _record.Metrics, _record.Logger));
        _record.WarmConnection("parked");
        return true;
    }

    /// <summary>
    /// The flight over the warm connection: the pending RSET's answer first where the remote does not pipeline (else
    /// after the flight, which follows it in one write), then each command's reply. Returns the replies, or why the
    /// connection is stale: its RSET not answered 250, or a 421 among the replies (the remote is closing it).
    /// </summary>
    private async ValueTask<(UpstreamReply[]? Replies, string? Stale)> FlyAsync(UpstreamChannel channel, WarmConnection warm, PendingReply[] flight)
    {
        var pipelining = warm.Capabilities.Contains(SmtpKeywords.Pipelining);
        if (warm.ResetPending && !pipelining && await ReadResetAsync(warm) is { } refused)
        {
            return (null, refused);
        }

        if (!warm.ResetPending && warm.Connection.HasUnreadInput())
        {
            // Said while it was parked and owed nothing, too late for the watch: a reply no command asked for.
            return (null, "a reply nothing asked for (out of step)");
        }

        var replies = new UpstreamReply[flight.Length];
        for (var sent = 0; sent < flight.Length;)
        {
            // Toward a pipelining remote the whole flight in one write; toward a lockstep one, one command at a time.
            var group = pipelining ? flight.Length - sent : 1;
            for (var i = sent; i < sent + group; i++)
            {
                channel.Write(flight[i].Line);
            }

            await channel.FlushAsync();
            if (warm.ResetPending && await ReadResetAsync(warm) is { } refusedLate)
            {
                return (null, refusedLate);
            }

            for (var i = sent; i < sent + group; i++)
            {
                replies[i] = await channel.ReadReplyCopyAsync(_options.Timeouts.BackendReply);
                if (replies[i].Code == ReplyCode.ServiceNotAvailable)
                {
                    var verb = SmtpCommandParser.Parse(flight[i].Line).Verb.ToString().ToUpperInvariant();
                    return (null, verb + " answered " + replies[i].Code.ToString(CultureInfo.InvariantCulture));
                }
            }

            sent += group;
        }

        // One reply too many (a second answer to the RSET, say) would shift every reply onto the wrong command; none
        // of them has reached the sender yet, so the connection is given up instead (the exception makes it stale).
        channel.EnsureNothingUnsolicited();
        return (replies, null);
    }

    /// <summary>The answer to the RSET the connection was parked with; null when it is 250, else why the connection is stale.</summary>
    private async ValueTask<string?> ReadResetAsync(WarmConnection warm)
    {
        int code;
        try
        {
            using var scope = _remote.Deadline.Begin(ResetBound < _options.Timeouts.BackendReply ? ResetBound : _options.Timeouts.BackendReply);
            var reply = await warm.Connection.ReadReplyAsync(warm.MaxReplyLineLength, scope.Token);
            code = reply.Code;
            warm.Connection.ReleaseReply();
        }
        catch (OperationCanceledException ex) when (_remote.Deadline.IsTimeout(ex))
        {
            return "no answer to RSET within " + ResetBound.TotalSeconds.ToString(CultureInfo.InvariantCulture) + "s";
        }

        warm.ResetPending = false;
        return code == ReplyCode.Ok ? null : "RSET answered " + code.ToString(CultureInfo.InvariantCulture);
    }

    [LoggerMessage(EventId = Logging.LogEventIds.WarmConnectionStale, Level = LogLevel.Information,
        Message = "warm connection to U={Remote} for H=[{SenderAddress}]:{SenderPort} I={Listener} stale ({Reason}): dropped, a fresh connection takes over")]
    private static partial void LogStale(ILogger logger, System.Net.IPEndPoint remote, System.Net.IPAddress senderAddress, int senderPort, string listener,
        string reason);
}
