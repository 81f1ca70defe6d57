using System.Buffers;
using System.Text;
using EarlyPipeProxy.Protocol.Capabilities;
using EarlyPipeProxy.Sessions.Backend;
using EarlyPipeProxy.Sessions.Configuration;
using EarlyPipeProxy.Sessions.EhloCache;

namespace EarlyPipeProxy.Sessions.Outbound;

// The remote side: connecting (early flight, lockstep, the redo after a failed flight), sending, and turning the
// remote's replies into the sender's answers.
public sealed partial class OutboundSession
{
    // The only greeting after which the remote will act on what we sent (RFC 5321 §4.2; the draft's banner check).
    private const int ReadyBannerCode = 220;

    private int _bannerCode;
    private bool _learnt;

    /// <summary>Queues a command for the remote: written at once when connected, kept for the first flight otherwise.</summary>
    private void Send(PendingReplyKind kind, byte[] line)
    {
        if (_remote is null)
        {
            _pending.Enqueue(new PendingReply(kind, line));
        }
        else
        {
            WriteToRemote(line);
            _pending.Enqueue(new PendingReply(kind, null));
        }

        if (kind != PendingReplyKind.AcknowledgedMail)
        {
            _owed++;
        }
    }

    private ValueTask SendAndDrainAsync(PendingReplyKind kind, byte[] line)
    {
        Send(kind, line);
        return DrainAsync();
    }

    /// <summary>
    /// Sends what waits and collects the replies the sender is owed, in order. A MAIL acknowledged here is not waited
    /// for on its own (it travels with the next command) unless <paramref name="includeAcknowledged"/> says so.
    /// </summary>
    private async ValueTask DrainAsync(bool includeAcknowledged = false)
    {
        if (_pending.Count == 0 || (_owed == 0 && !(includeAcknowledged && _remote is not null)))
        {
            return;
        }

        if (_remote is null)
        {
            await SendFirstFlightAsync();
            return;
        }

        await FlushRemoteAsync();
        while (_pending.Count > 0)
        {
            Process(_pending.Dequeue(), await ReadRemoteReplyAsync(_options.Timeouts.BackendReply));
        }
    }

    /// <summary>The remote's reply to a command, turned into what the sender is told.</summary>
    private void Process(PendingReply pending, RemoteReply reply)
    {
        if (pending.IsOwed)
        {
            _owed--;
        }

        if (_earlyTransaction && pending.Kind is PendingReplyKind.AcknowledgedMail or PendingReplyKind.Mail or PendingReplyKind.Recipient)
        {
            _cache.OnEarlyTransactionReply(_key, reply.Code);
        }

        var positive = reply.IsPositiveCompletion;
        switch (pending.Kind)
        {
            case PendingReplyKind.AcknowledgedMail when !positive:
                _mailRefusal = reply.Raw;
                _inTransaction = false;
                break;
            case PendingReplyKind.Mail:
                _inTransaction = positive;
                WriteToSender(reply.Raw);
                break;
            case PendingReplyKind.Recipient when _mailRefusal is not null:
                // The remote's RCPT reply is about a transaction that never began (typically 503); the sender
                // learns why from the MAIL refusal, with the remote's own code and text.
                WriteToSender(_mailRefusal);
                break;
            case PendingReplyKind.Recipient:
                if (positive)
                {
                    _acceptedRecipients++;
                    _recipients++;
                }

                WriteToSender(reply.Raw);
                break;
            case PendingReplyKind.Reset:
                if (positive)
                {
                    EndTransaction();
                }

                WriteToSender(reply.Raw);
                break;
            case PendingReplyKind.Auth:
                _saslExchange = reply.Code == 334;
                WriteToSender(reply.Raw);
                break;
            case PendingReplyKind.Other:
                WriteToSender(reply.Raw);
                break;
        }

        if (reply.Code == 421)
        {
            // The remote is closing (RFC 5321 §3.8): whatever else the sender waits for gets the same word.
            for (var owed = _owed; owed > 0; owed--)
            {
                WriteToSender(reply.Raw);
            }

            _pending.Clear();
            _owed = 0;
            _sessionOver = true;
            _end = "remote closed with 421";
        }
    }

    /// <summary>
    /// The first flight of an early-pipelined session, before the banner: EHLO and everything waiting (MAIL, RCPT); or,
    /// when TLS will be used, EHLO and STARTTLS, and after the handshake EHLO and everything waiting in one flight when
    /// the post-TLS reply is cached too. The flight's replies are all read before any reaches the sender: a bad banner
    /// or a connection lost on the way flushes the entry of the phase that failed and the session is redone in lockstep
    /// at once, so the sender sees nothing of it.
    /// </summary>
    private async ValueTask SendFirstFlightAsync()
    {
        var flight = _pending.ToArray();
        _pending.Clear();
        _owed = 0;

        RemoteReply[]? replies = null;
        try
        {
            replies = await FlyAsync(flight);
        }
        catch (BackendUnavailableException ex) when (ex.Failure != BackendFailure.TlsFailed)
        {
            // After the handshake the post-TLS entry was the one relied on; before it, the cleartext one.
            _cache.Flush(_key, EhloCacheFlushReason.ConnectionFailed);
            _redo = "early flight failed: " + ex.Failure.ToString().ToLowerInvariant();
            if (_remote is not null)
            {
                await _remote.AbortAsync();
                _remote = null;
            }
        }

        if (replies is not null)
        {
            // Every reply is in: from here on they reach the sender, and nothing is redone.
            _earlyTransaction = Array.Exists(flight, command => command.Kind is PendingReplyKind.AcknowledgedMail or PendingReplyKind.Mail);
            Requeue(flight);

            // A 421 among them ends the session and answers every command still owed; replies after it (a remote
            // may answer the rest of the flight before it closes) belong to nobody.
            for (var i = 0; i < replies.Length && _pending.Count > 0; i++)
            {
                Process(_pending.Dequeue(), replies[i]);
            }

            return;
        }

        if (_remote is null)
        {
            LogEarlyFlightRedone(_logger, _senderEndPoint.Address, _senderEndPoint.Port, _listener.Name, _remoteEndPoint, _redo!);

            // Until the redo sends them again, the flight's commands are still owed: a remote that cannot be reached
            // now owes each of them its 421.
            _owed = Array.FindAll(flight, command => command.IsOwed).Length;
            await ConnectLockstepAsync();
            _owed = 0;
        }

        if (_remoteRefusal is not null)
        {
            foreach (var command in flight)
            {
                if (command.IsOwed)
                {
                    WriteToSender(_remoteRefusal);
                }
            }

            _inTransaction = false;
            return;
        }

        // Connected and greeted, the waiting commands not sent yet: the ordinary way, in groups where the remote pipelines.
        foreach (var command in flight)
        {
            Send(command.Kind, command.Line!);
            if (!_remotePipelining)
            {
                await DrainAsync(includeAcknowledged: true);
            }
        }

        await DrainAsync(includeAcknowledged: true);
    }

    /// <summary>
    /// Connects and sends the flight. Returns the replies to <paramref name="flight"/> when they all came back from an
    /// early flight; null when the flight has to be completed the ordinary way: with <see cref="_remote"/> set (the
    /// connection stands, greeted, and the commands are still to send) or not (<see cref="_redo"/> says why the
    /// session starts over in lockstep). The connection is aborted on every way out that does not keep it.
    /// </summary>
    private async ValueTask<RemoteReply[]?> FlyAsync(PendingReply[] flight)
    {
        var secure = TlsWanted && _cachedCleartext!.Contains(SmtpKeywords.StartTls);
        var bytes = new ArrayBufferWriter<byte>(256);
        WriteEhlo(bytes);
        if (secure)
        {
            bytes.Write(StartTlsCommand);
        }
        else
        {
            WriteLines(bytes, flight);
        }

        var connection = await ConnectAsync(_options.FastOpen, bytes.WrittenMemory);
        try
        {
            var banner = await ReadReplyAsync(connection, _options.Timeouts.Banner);
            if (banner.Code != ReadyBannerCode)
            {
                _cache.Flush(_key, EhloCacheFlushReason.BadBanner);
                _redo = "banner " + banner.Code.ToString(System.Globalization.CultureInfo.InvariantCulture);
                return null;
            }

            _bannerCode = banner.Code;
            var ehlo = await ReadReplyAsync(connection, _options.Timeouts.BackendReply);
            var learnt = Learn(ehlo);
            if (ehlo.Code != 250 || !EhloCapabilities.TryParse(ehlo.AsSequence(), out var capabilities))
            {
                _redo = "EHLO " + ehlo.Code.ToString(System.Globalization.CultureInfo.InvariantCulture);
                return null;
            }

            UseCapabilities(capabilities!);
            _early = RemoteEarlyPipeUse.Used;
            if (learnt == EhloLearnOutcome.Flushed)
            {
                // What was sent stands; the next session is lockstep (Exim ≥ 4.97 does the same).
                _redo = "keyword withdrawn";
            }

            if (!secure)
            {
                var replies = await ReadRepliesAsync(connection, flight.Length);
                (_remote, connection) = (connection, null);
                return replies;
            }

            var goAhead = await ReadReplyAsync(connection, _options.Timeouts.BackendReply);
            (_remote, connection) = (connection, null);
            if (goAhead.Code != 220)
            {
                // RFC 3207 §4: the session goes on as it was, in cleartext, unless the policy says no TLS no mail.
                _remoteRefusal = _options.Tls.Mode == OutboundTlsMode.Required ? AsRefusal(goAhead) : null;
                return null;
            }

            if (!await TryHandshakeAsync(_remote))
            {
                // Opportunistic TLS failed: a new cleartext connection, and the entries are not to blame.
                await _remote.AbortAsync();
                _remote = null;
                _redo = "TLS handshake failed";
                return null;
            }

            if (_cachedAfterTls is null || !EarlyPipeKeywords.OffersEarlyPipelining(_cachedAfterTls))
            {
                var secured = await GreetRemoteAsync();
                if (secured.Code != 250)
                {
                    _remoteRefusal = AsRefusal(secured);
                }

                return null;
            }

            // The second early flight: EHLO and the waiting commands, straight after the handshake.
            var after = new ArrayBufferWriter<byte>(256);
            WriteEhlo(after);
            WriteLines(after, flight);
            _remote.Output.Write(after.WrittenSpan);
            await FlushRemoteAsync();
            var securedEhlo = await ReadRemoteReplyAsync(_options.Timeouts.BackendReply);
            Learn(securedEhlo);
            if (securedEhlo.Code != 250 || !EhloCapabilities.TryParse(securedEhlo.AsSequence(), out var securedCapabilities))
            {
                throw new BackendUnavailableException(BackendFailure.MalformedReply, $"EHLO after STARTTLS answered {securedEhlo.Code}");
            }

            UseCapabilities(securedCapabilities!);
            return await ReadRepliesAsync(_remote, flight.Length);
        }
        finally
        {
            if (connection is not null)
            {
                await connection.AbortAsync();
            }
        }
    }

    private async ValueTask<RemoteReply[]> ReadRepliesAsync(BackendConnection connection, int count)
    {
        var replies = new RemoteReply[count];
        for (var i = 0; i < replies.Length; i++)
        {
            replies[i] = await ReadReplyAsync(connection, _options.Timeouts.BackendReply);
        }

        return replies;
    }

    /// <summary>Puts the flight's commands back in the queue as sent, so their replies are processed in order.</summary>
    private void Requeue(PendingReply[] flight)
    {
        foreach (var command in flight)
        {
            _owed += command.IsOwed ? 1 : 0;
            _pending.Enqueue(command with { Line = null });
        }
    }

    private void WriteEhlo(IBufferWriter<byte> output) => output.Write(Encoding.ASCII.GetBytes($"EHLO {EhloName}\r\n"));

    private static void WriteLines(IBufferWriter<byte> output, PendingReply[] flight)
    {
        foreach (var command in flight)
        {
            output.Write(command.Line);
        }
    }

    /// <summary>
    /// A plain session with a remote the sender was already greeted for from the cache: banner, then EHLO (learnt),
    /// and STARTTLS per policy. A refusal of any of them is kept in <see cref="_remoteRefusal"/> to answer the sender's
    /// commands. Returns the last reply: the EHLO reply the session goes on with, or the refusing one.
    /// </summary>
    private async ValueTask<RemoteReply> ConnectLockstepAsync()
    {
        // No Fast Open here: with it the SYN waits for our first write, and in lockstep the remote speaks first.
        _remote = await ConnectAsync(fastOpen: false);
        _tlsActive = false;
        _key = new EhloCacheKey(_key.LocalAddress, _key.RemoteAddress, _key.RemotePort, TlsPhase.Cleartext);
        _learnt = false;
        var banner = await ReadRemoteReplyAsync(_options.Timeouts.Banner);
        _bannerCode = banner.Code;
        if (banner.Code != ReadyBannerCode)
        {
            _remoteRefusal = AsRefusal(banner);
            return banner;
        }

        var ehlo = await GreetAndSecureAsync();
        if (_remoteRefusal is null && (ehlo.Code != 250 || !EhloCapabilities.TryParse(ehlo.AsSequence(), out _)))
        {
            _remoteRefusal = AsRefusal(ehlo);
        }

        return ehlo;
    }

    /// <summary>A session without a usable cache entry: the remote's own banner is the sender's.</summary>
    private async ValueTask<bool> ConnectAndRelayBannerAsync()
    {
        _remote = await ConnectAsync(fastOpen: false);
        var banner = await ReadRemoteReplyAsync(_options.Timeouts.Banner);
        _bannerCode = banner.Code;
        WriteToSender(banner.Raw);
        if (banner.Code != ReadyBannerCode)
        {
            // RFC 5321 §3.1: a server that refuses the session answers every command but QUIT with an error.
            _remoteRefusal = AsRefusal(banner);
        }

        return true;
    }

    /// <summary>EHLO to the connected remote; its first reply on the connection is learnt into the cache.</summary>
    private async ValueTask<RemoteReply> GreetRemoteAsync()
    {
        WriteEhlo(_remote!.Output);
        await FlushRemoteAsync();
        var reply = await ReadRemoteReplyAsync(_options.Timeouts.BackendReply);
        Learn(reply);
        if (reply.Code == 250 && EhloCapabilities.TryParse(reply.AsSequence(), out var capabilities))
        {
            UseCapabilities(capabilities!);
        }

        return reply;
    }

    private EhloLearnOutcome? Learn(RemoteReply ehlo)
    {
        if (_learnt || !_options.EarlyPipelining)
        {
            return null;
        }

        _learnt = true;
        var outcome = _cache.Learn(_key, _bannerCode, ehlo.AsSequence());
        if (outcome is EhloLearnOutcome.Stored or EhloLearnOutcome.Rewritten or EhloLearnOutcome.Confirmed && _early == RemoteEarlyPipeUse.NotOffered)
        {
            _early = RemoteEarlyPipeUse.Offered;
        }

        return outcome;
    }

    private string EhloName => _heloName.Length > 0 ? _heloName : _options.HeloName ?? _options.HostName;

    /// <summary>
    /// A banner or EHLO refusal as an answer to a later command. A reply that is not an error (a 2xx banner other than
    /// 220, say) must never read as an acceptance, so it becomes a plain 421.
    /// </summary>
    private static byte[] AsRefusal(RemoteReply reply) => reply.Code >= 400 ? reply.Raw : OutboundReplies.RemoteUnavailable.ToArray();

    /// <summary>QUIT after the sender has its 221: the remote's replies are read briefly, so it closes on its own terms.</summary>
    private async ValueTask SendQuitToRemoteAsync()
    {
        _quitSent = true;
        try
        {
            WriteAscii(_remote!, "QUIT\r\n");
            await FlushRemoteAsync();
            for (var replies = _pending.Count + 1; replies > 0; replies--)
            {
                var reply = await ReadReplyAsync(_remote!, TimeSpan.FromSeconds(5));
                if (reply.Code == 221)
                {
                    break;
                }
            }
        }
        catch (Exception ex) when (ex is BackendUnavailableException or OperationCanceledException)
        {
            // The sender is done and has its answer; a remote that does not say goodbye changes nothing.
        }

        _pending.Clear();
    }

    private async ValueTask<BackendConnection> ConnectAsync(bool fastOpen, ReadOnlyMemory<byte> firstFlight = default)
    {
        try
        {
            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            var connection = await _connector.ConnectAsync(_remoteEndPoint, _listener.SourceAddress, fastOpen, firstFlight, Deadline(_options.Timeouts.BackendConnect));
            _metrics?.UpstreamConnected(_listener.Name, Telemetry.Direction.Outbound, System.Diagnostics.Stopwatch.GetElapsedTime(started));

            // From here the remote speaks (banner) or answers the flight: the session waits for it.
            _roundTrips.Waited();
            _lastFlush = System.Diagnostics.Stopwatch.GetTimestamp();
            return connection;
        }
        catch (OperationCanceledException) when (!_aborted.IsCancellationRequested)
        {
            throw new BackendUnavailableException(BackendFailure.Unreachable, $"no connection to {_remoteEndPoint} within {_options.Timeouts.BackendConnect}");
        }
        finally
        {
            ClearDeadline();
        }
    }

    private ValueTask FlushRemoteAsync() => FlushAsync(_remote!);

    private async ValueTask FlushAsync(BackendConnection connection)
    {
        try
        {
            await connection.FlushAsync(Deadline(_options.Timeouts.BackendReply));
            _roundTrips.Waited();
            _lastFlush = System.Diagnostics.Stopwatch.GetTimestamp();
        }
        catch (OperationCanceledException) when (!_aborted.IsCancellationRequested)
        {
            throw new BackendUnavailableException(BackendFailure.Timeout, $"remote did not take data within {_options.Timeouts.BackendReply}");
        }
        finally
        {
            ClearDeadline();
        }
    }

    private ValueTask<RemoteReply> ReadRemoteReplyAsync(TimeSpan timeout) => ReadReplyAsync(_remote!, timeout);

    private async ValueTask<RemoteReply> ReadReplyAsync(BackendConnection connection, TimeSpan timeout)
    {
        try
        {
            var reply = await connection.ReadReplyAsync(_options.Limits.MaxReplyLineLength, Deadline(timeout));
            var copy = new RemoteReply(reply.Code, reply.Raw.ToArray());
            if (_quitSent)
            {
                _roundTrips.RepliedUnwaited(reply.Code);
            }
            else
            {
                _roundTrips.Replied(reply.Code);
                _metrics?.UpstreamReplied(_listener.Name, Telemetry.Direction.Outbound, System.Diagnostics.Stopwatch.GetElapsedTime(_lastFlush));
            }

            connection.ReleaseReply();
            return copy;
        }
        catch (OperationCanceledException) when (!_aborted.IsCancellationRequested)
        {
            throw new BackendUnavailableException(BackendFailure.Timeout, $"no reply from the remote within {timeout}");
        }
        finally
        {
            ClearDeadline();
        }
    }

    private void WriteToRemote(ReadOnlySpan<byte> bytes) => _remote!.Output.Write(bytes);

    private static void WriteAscii(BackendConnection connection, string text) => connection.Output.Write(Encoding.ASCII.GetBytes(text));

    private async ValueTask CloseRemoteAsync()
    {
        if (_remote is null)
        {
            return;
        }

        if (_abortRemote)
        {
            // Mid-message: a reset makes sure the remote never takes a half message for a whole one.
            await _remote.AbortAsync();
            return;
        }

        if (!_quitSent)
        {
            // A sender that left without QUIT: the remote still gets a polite end, if it takes it promptly.
            try
            {
                using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                WriteAscii(_remote, "QUIT\r\n");
                await _remote.FlushAsync(bound.Token);
            }
            catch (Exception ex) when (ex is BackendUnavailableException or OperationCanceledException or IOException)
            {
                // Already gone.
            }
        }

        await _remote.DisposeAsync();
    }
}
