using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using EarlyPipeProxy.Protocol.Capabilities;
using EarlyPipeProxy.Protocol.Commands;
using EarlyPipeProxy.Protocol.Lines;
using EarlyPipeProxy.Sessions.Backend;
using EarlyPipeProxy.Sessions.Configuration;
using EarlyPipeProxy.Sessions.EhloCache;
using EarlyPipeProxy.Sessions.Inbound;
using Microsoft.Extensions.Logging;
using EhloCacheStore = EarlyPipeProxy.Sessions.EhloCache.EhloCache;

namespace EarlyPipeProxy.Sessions.Outbound;

/// <summary>
/// One legacy sender's connection, relayed to a remote server the fastest way the remote allows. With a fresh cached
/// EHLO reply that offers early pipelining, the sender's banner, EHLO and MAIL are answered here and the remote gets
/// EHLO, MAIL and the first RCPT in one flight before its banner. Toward a remote that offers PIPELINING, MAIL waits to
/// travel with the first RCPT and DATA's 354 is given here; toward one that offers CHUNKING the message goes as BDAT.
/// Every answer that decides something (RCPT, end of data) is the remote's own; one given early (MAIL, 354) is
/// corrected at the sender's next answer that can carry the remote's real outcome.
/// </summary>
#pragma warning disable CA1001 // The deadline source is disposed when RunAsync ends; a session is never reused.
public sealed partial class OutboundSession
#pragma warning restore CA1001
{
    private readonly OutboundListener _listener;
    private readonly OutboundListenerOptions _options;
    private IDuplexPipe _sender;
    private readonly IPEndPoint _senderEndPoint;
    private readonly IPEndPoint _remoteEndPoint;
    private readonly IBackendConnector _connector;
    private readonly EhloCacheStore _cache;
    private readonly ILogger _logger;
    private readonly Queue<PendingReply> _pending = new();
    private readonly Telemetry.ProxyMetrics? _metrics;
    private Telemetry.RoundTripCounter _roundTrips;
    private long _lastFlush;
    private TimeSpan? _remoteRoundTripTime;
    private int _messagesRejected;

    private CancellationTokenSource _deadline = null!;
    private CancellationToken _aborted;
    private EhloCacheKey _key;
    private BackendConnection? _remote;

    // The remote's capabilities: from the cache until a live EHLO reply replaces them.
    private EhloCapabilities? _remoteCapabilities;
    private bool _remotePipelining;
    private bool _remoteChunking;

    // A refusal of the whole connection (banner, EHLO) after the sender was already answered from the cache: it answers
    // every later command that needs the remote.
    private byte[]? _remoteRefusal;

    // The remote's refusal of a MAIL that was acknowledged here: it answers the transaction's RCPTs.
    private byte[]? _mailRefusal;

    private string _heloName = string.Empty;
    private bool _greeted;
    private bool _saslExchange;
    private bool _inTransaction;
    private bool _earlyTransaction;
    private bool _sessionOver;
    private bool _senderUnflushed;
    private bool _abortRemote;
    private bool _quitSent;
    private int _owed;
    private int _acceptedRecipients;
    private RemoteEarlyPipeUse _early;
    private string? _redo;
    private int _messages;
    private int _recipients;
    private int _commands;
    private long _bytesFromSender;
    private long _bytesToSender;
    private string _end = "sender closed";

    public OutboundSession(
        OutboundListener listener,
        IDuplexPipe sender,
        IPEndPoint senderEndPoint,
        IPEndPoint remoteEndPoint,
        IBackendConnector connector,
        EhloCacheStore cache,
        ILogger logger,
        Telemetry.ProxyMetrics? metrics = null)
    {
        _metrics = metrics;
        _listener = listener;
        _options = listener.Options;
        _sender = sender;
        _senderEndPoint = senderEndPoint;
        _remoteEndPoint = remoteEndPoint;
        _connector = connector;
        _cache = cache;
        _logger = logger;
    }

    public RemoteEarlyPipeUse EarlyPipeUse => _early;

    /// <summary>Runs the session to its end. <paramref name="closeRequested"/> asks for a graceful end between transactions.</summary>
    public async Task RunAsync(CancellationToken aborted, CancellationToken closeRequested = default)
    {
        var started = Stopwatch.GetTimestamp();
        _aborted = aborted;
        using var deadline = aborted.CanBeCanceled ? CancellationTokenSource.CreateLinkedTokenSource(aborted) : new CancellationTokenSource();
        _deadline = deadline;
        // A graceful stop wakes a session waiting for the sender's next command, so it can say 421 and go.
        using var wakeOnClose = closeRequested.Register(static state => ((OutboundSession)state!)._sender.Input.CancelPendingRead(), this);
        try
        {
            var source = _listener.SourceAddress ?? RouteSource(_remoteEndPoint);
            _key = new EhloCacheKey(source, _remoteEndPoint.Address, _remoteEndPoint.Port, TlsPhase.Cleartext);
            if (CachedCapabilities() is { } cached)
            {
                // The remote's banner will be checked when the flight's replies come back; a bad one is a reason
                // to redo the session in lockstep, never something the sender sees.
                UseCapabilities(cached);
                WriteToSender(System.Text.Encoding.ASCII.GetBytes($"220 {_options.HostName} ESMTP\r\n"));
            }
            else if (!await ConnectAndRelayBannerAsync())
            {
                return;
            }

            await CommandLoopAsync(closeRequested);
            await FlushSenderAsync();
        }
        catch (BackendUnavailableException ex)
        {
            await FailOwedAsync(ex);
        }
        catch (Exception ex) when (aborted.IsCancellationRequested || ex is Microsoft.AspNetCore.Connections.ConnectionAbortedException)
        {
            _end = "connection aborted";
            _abortRemote |= _inTransaction;
        }
        catch (OperationCanceledException)
        {
            _end = "timeout";
            _abortRemote |= _inTransaction;
            WriteToSender(ProxyReplies.Timeout);
            await TryFlushFinalAsync();
        }
        catch (IOException)
        {
            _end = "sender connection lost";
            _abortRemote |= _inTransaction;
        }
        finally
        {
            _remoteRoundTripTime = _remote?.RoundTripTime;
            await CloseRemoteAsync();
            if (_senderTls is not null)
            {
                await _senderTls.DisposeAsync();
            }

            LogSession(Stopwatch.GetElapsedTime(started));
        }
    }

    private async ValueTask CommandLoopAsync(CancellationToken closeRequested)
    {
        while (!_sessionOver)
        {
            if (closeRequested.IsCancellationRequested && !_inTransaction)
            {
                await LocalReplyAsync(ProxyReplies.ShuttingDown);
                _end = "shutdown";
                return;
            }

            var input = _sender.Input;
            var result = await ReadSenderAsync(_options.Timeouts.Command);
            if (_sessionOver)
            {
                // The replies collected before the read ended the session; nothing the sender sent since is read.
                input.AdvanceTo(result.Buffer.Start);
                return;
            }

            var buffer = result.Buffer;
            var reader = new SequenceReader<byte>(buffer);
            // A SASL response, or AUTH with an initial one, may be up to 12288 octets (RFC 4954 §4).
            var limit = _saslExchange ? _options.Limits.MaxAuthLineLength : _options.Limits.MaxLineLength;
            var status = SmtpLineReader.TryReadCommandLine(ref reader, limit, _options.Limits.MaxAuthLineLength, out var line);

            switch (status)
            {
                case LineReadStatus.Incomplete:
                    // Also the way out of a read cancelled by a graceful stop: the loop's top decides.
                    input.AdvanceTo(buffer.Start, buffer.End);
                    if (result.IsCompleted)
                    {
                        _end = buffer.IsEmpty ? "sender closed" : "sender closed mid-command";
                        _abortRemote |= _inTransaction;
                        return;
                    }

                    continue;

                case LineReadStatus.TooLong:
                    // A legacy sender's over-long line is a mistake, not an attack: answer it and go on.
                    input.AdvanceTo(buffer.Start);
                    if (!await SkipLineAsync())
                    {
                        return;
                    }

                    await LocalReplyAsync(ProxyReplies.LineTooLong);
                    continue;

                case LineReadStatus.BareLineEnding:
                    input.AdvanceTo(reader.Position);
                    await LocalReplyAsync(ProxyReplies.BareLineEndingInCommand);
                    continue;
            }

            _commands++;
            var command = SmtpCommandParser.Parse(line);
            var moreBuffered = !reader.End;
            var lineWithEnding = buffer.Slice(line.Start, reader.Position);
            var argument = command.Verb is SmtpVerb.Ehlo or SmtpVerb.Helo ? SmtpCommandParser.GetArgument(line, command).Trim() : null;
            var bytes = lineWithEnding.ToArray();
            _bytesFromSender += bytes.Length;
            input.AdvanceTo(reader.Position);
            if (_saslExchange)
            {
                // Not a command: the sender's answer to the remote's 334, whatever its letters spell ("QUIT" is base64).
                await SendAndDrainAsync(PendingReplyKind.Auth, bytes);
                continue;
            }

            await ExecuteAsync(command, bytes, argument, moreBuffered);
        }
    }

    private async ValueTask ExecuteAsync(SmtpCommand command, byte[] line, string? argument, bool moreBuffered)
    {
        switch (command.Verb)
        {
            case SmtpVerb.Ehlo:
            case SmtpVerb.Helo:
                await GreetAsync(command.Verb == SmtpVerb.Ehlo, argument!);
                break;
            case SmtpVerb.Mail:
                await MailAsync(line);
                break;
            case SmtpVerb.Rcpt:
                await RecipientAsync(line);
                break;
            case SmtpVerb.Data:
                await DataAsync(moreBuffered);
                break;
            case SmtpVerb.Rset:
                await ResetAsync(line);
                break;
            case SmtpVerb.Noop when _remote is null:
                await LocalReplyAsync(OutboundReplies.Ok);
                break;
            case SmtpVerb.Quit:
                await QuitAsync();
                break;
            case SmtpVerb.StartTls:
                await SenderStartTlsAsync();
                break;
            case SmtpVerb.Auth:
                await AuthAsync(line);
                break;
            case SmtpVerb.Bdat:
                // CHUNKING is not offered to the sender, and a chunk's octets cannot be told from commands: stop here.
                await LocalReplyAsync(ProxyReplies.BdatUnavailable);
                _end = "BDAT not offered";
                _sessionOver = true;
                break;
            case SmtpVerb.Xclient:
            case SmtpVerb.Xforward:
                await LocalReplyAsync(ProxyReplies.NotAuthorized);
                break;
            default:
                await OtherAsync(line);
                break;
        }
    }

    /// <summary>
    /// EHLO/HELO. Answered from the cache while the remote has not been contacted (the flight carries the same EHLO);
    /// otherwise the remote gets EHLO and the sender its reply, edited to what the proxy can honour.
    /// </summary>
    private async ValueTask GreetAsync(bool extended, string name)
    {
        await DrainAsync(includeAcknowledged: true);
        if (name.Length == 0)
        {
            await LocalReplyAsync(OutboundReplies.EhloSyntax);
            return;
        }

        _heloName = _options.HeloName ?? name;
        ForgetUnsentMail();
        EndTransaction();
        if (_remoteRefusal is not null)
        {
            WriteToSender(_remoteRefusal);
            return;
        }

        if (_remote is null)
        {
            WriteGreetingReply(extended, _remoteCapabilities!);
            _greeted = true;
            return;
        }

        var reply = await GreetAndSecureAsync();
        if (_remoteRefusal is not null)
        {
            // A Required TLS policy the remote cannot meet: no mail goes in cleartext.
            WriteToSender(_remoteRefusal);
            return;
        }

        if (reply.Code == 250 && EhloCapabilities.TryParse(new ReadOnlySequence<byte>(reply.Raw), out var capabilities))
        {
            WriteGreetingReply(extended, capabilities!);
            _greeted = true;
            return;
        }

        if (!extended && reply.Code >= 500)
        {
            // A server that refuses EHLO may still take HELO, which is all the sender asked for.
            WriteToRemote(System.Text.Encoding.ASCII.GetBytes($"HELO {_heloName}\r\n"));
            await FlushRemoteAsync();
            var helo = await ReadRemoteReplyAsync(_options.Timeouts.BackendReply);
            _greeted = helo.Code == 250;
            WriteToSender(helo.Raw);
            return;
        }

        WriteToSender(reply.Raw);
    }

    /// <summary>
    /// The sender's view of the remote's EHLO reply: PIPELINING always (the proxy reads commands one at a time either
    /// way), and nothing the proxy does not carry end to end: no early-pipelining keyword (the sender's hop is local),
    /// not the remote's STARTTLS (ours, when configured), no CHUNKING (DATA becomes BDAT on the way out where the remote
    /// offers it). AUTH stays: the exchange is relayed to the remote.
    /// </summary>
    private void WriteGreetingReply(bool extended, EhloCapabilities remote)
    {
        if (!extended)
        {
            WriteToSender(System.Text.Encoding.Latin1.GetBytes($"250 {remote.Greeting}\r\n"));
            return;
        }

        var shown = new EhloCapabilities(remote.Greeting, remote.Keywords);
        foreach (var keyword in HiddenFromSender)
        {
            shown.Remove(keyword);
        }

        shown.Add(SmtpKeywords.Pipelining);
        if (_listener.SenderCertificates is not null && _senderTls is null)
        {
            shown.Add(SmtpKeywords.StartTls);
        }

        var before = _sender.Output.UnflushedBytes;
        shown.WriteTo(_sender.Output);
        _bytesToSender += _sender.Output.UnflushedBytes - before;
        _senderUnflushed = true;
        _metrics?.Reply(_listener.Name, Telemetry.Direction.Outbound, 250);
    }

    private static readonly string[] HiddenFromSender =
        [.. EarlyPipeKeywords.Spellings, SmtpKeywords.StartTls, SmtpKeywords.Chunking, SmtpKeywords.BinaryMime, SmtpKeywords.Xclient, SmtpKeywords.Xforward];

    /// <summary>
    /// MAIL. Toward a remote that pipelines it is acknowledged here and travels with the first RCPT; the remote's real
    /// answer reaches the sender at that RCPT. Toward a lockstep remote it is relayed.
    /// </summary>
    private async ValueTask MailAsync(byte[] line)
    {
        if (!_greeted)
        {
            await LocalReplyAsync(_remoteRefusal ?? OutboundReplies.SendHeloFirst.ToArray());
            return;
        }

        if (_owed > 0)
        {
            await DrainAsync();
        }

        if (_remotePipelining && !_inTransaction && _remoteRefusal is null)
        {
            EndTransaction();
            Send(PendingReplyKind.AcknowledgedMail, line);
            WriteToSender(OutboundReplies.SenderOk);
            _inTransaction = true;
            return;
        }

        await SendAndDrainAsync(PendingReplyKind.Mail, line);
    }

    private async ValueTask RecipientAsync(byte[] line)
    {
        if (_mailRefusal is not null && _pending.Count == 0)
        {
            // The remote has no transaction: its refusal of the MAIL is the answer to every RCPT of it.
            WriteToSender(_mailRefusal);
            return;
        }

        Send(PendingReplyKind.Recipient, line);
        if (!_remotePipelining)
        {
            await DrainAsync();
        }
    }

    private async ValueTask ResetAsync(byte[] line)
    {
        if (_remote is null)
        {
            // Nothing was sent: the transaction existed only here.
            await DrainAsync();
            ForgetUnsentMail();
            EndTransaction();
            await LocalReplyAsync(OutboundReplies.Ok);
            return;
        }

        await SendAndDrainAsync(PendingReplyKind.Reset, line);
    }

    /// <summary>
    /// AUTH: relayed to the remote with its SASL exchange, line by line, once the remote is greeted (and secured, per
    /// policy). Not part of an early flight: the credentials wait for the banner and, with TLS, for the handshake.
    /// </summary>
    private async ValueTask AuthAsync(byte[] line)
    {
        if (!_greeted || _inTransaction)
        {
            await LocalReplyAsync(_greeted ? Inbound.ProxyReplies.TransactionInProgress : OutboundReplies.SendHeloFirst);
            return;
        }

        await OtherAsync(line, PendingReplyKind.Auth);
    }

    private async ValueTask OtherAsync(byte[] line, PendingReplyKind kind = PendingReplyKind.Other)
    {
        if (_remote is null)
        {
            // VRFY, HELP and the like have no place in an early flight: meet the remote the ordinary way first.
            await DrainAsync();
            ForgetUnsentMail();
            await ConnectLockstepAsync();
            if (_remoteRefusal is not null)
            {
                WriteToSender(_remoteRefusal);
                return;
            }
        }

        await SendAndDrainAsync(kind, line);
    }

    /// <summary>QUIT is answered here at once; the remote gets its QUIT without the sender waiting for the reply.</summary>
    private async ValueTask QuitAsync()
    {
        await DrainAsync();
        WriteToSender(OutboundReplies.Bye);
        await FlushSenderAsync();
        _sessionOver = true;
        _end = "QUIT";
        ForgetUnsentMail();
        if (_remote is not null)
        {
            await SendQuitToRemoteAsync();
        }
    }

    /// <summary>A MAIL acknowledged here that never left: the remote never heard of it, so it is simply dropped.</summary>
    private void ForgetUnsentMail()
    {
        if (_remote is null && _pending.Count > 0 && _owed == 0)
        {
            _pending.Clear();
            _inTransaction = false;
        }
    }

    private void EndTransaction()
    {
        _inTransaction = false;
        _earlyTransaction = false;
        _mailRefusal = null;
        _acceptedRecipients = 0;
    }

    private void UseCapabilities(EhloCapabilities capabilities)
    {
        _remoteCapabilities = capabilities;
        _remotePipelining = capabilities.Contains(SmtpKeywords.Pipelining);
        _remoteChunking = capabilities.Contains(SmtpKeywords.Chunking);
    }

    /// <summary>Discards the rest of an over-long line; false when the sender went away or the session ended meanwhile.</summary>
    private async ValueTask<bool> SkipLineAsync()
    {
        var input = _sender.Input;
        while (true)
        {
            var result = await ReadSenderAsync(_options.Timeouts.Command);
            var buffer = result.Buffer;
            var reader = new SequenceReader<byte>(buffer);
            var found = SmtpLineReader.TrySkipLine(ref reader);
            input.AdvanceTo(reader.Position);
            if (_sessionOver)
            {
                // The replies collected before the read ended the session: the over-long line gets no answer.
                return false;
            }

            if (found)
            {
                return true;
            }

            if (result.IsCompleted)
            {
                _end = "sender closed mid-command";
                return false;
            }
        }
    }

    /// <summary>
    /// The source address the kernel would use toward the remote, for the cache key: servers decide per client
    /// address whether to offer early pipelining. Connecting a UDP socket only consults the routing table.
    /// </summary>
    private static IPAddress RouteSource(IPEndPoint remote)
    {
        using var probe = new Socket(remote.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            probe.Connect(remote);
        }
        catch (SocketException ex)
        {
            throw new BackendUnavailableException(BackendFailure.Unreachable, $"no route to {remote}: {ex.Message}", ex);
        }

        return ((IPEndPoint)probe.LocalEndPoint!).Address;
    }
}
