using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Net;
using EarlyPipeProxy.Protocol.Capabilities;
using EarlyPipeProxy.Protocol.Commands;
using EarlyPipeProxy.Protocol.Lines;
using EarlyPipeProxy.Protocol.Replies;
using EarlyPipeProxy.Sessions.Backend;
using EarlyPipeProxy.Sessions.Configuration;
using Microsoft.Extensions.Logging;

namespace EarlyPipeProxy.Sessions.Inbound;

/// <summary>
/// One client connection in front of a legacy MTA. The client may talk before the banner (early pipelining) and may
/// pipeline freely; the backend only ever sees a polite client: nothing before its final greeting line, EHLO alone,
/// RFC 2920 groups only when it offers PIPELINING, one command at a time otherwise. Every reply the client gets to a
/// command it sent is the backend's own, in order.
/// </summary>
#pragma warning disable CA1001 // The TLS pipe is disposed when RunAsync ends; a session is never reused or disposed from outside.
public sealed partial class InboundSession
#pragma warning restore CA1001
{
    // Keywords of the backend's EHLO reply that we must not pass on: XCLIENT/XFORWARD would let the client claim any
    // address; STARTTLS is not terminated here yet; the backend's own early-pipelining offer is replaced by ours.
    private static readonly string[] HiddenKeywords = [SmtpKeywords.Xclient, SmtpKeywords.Xforward, SmtpKeywords.StartTls, .. EarlyPipeKeywords.Spellings];

    private readonly InboundListener _listener;
    private readonly InboundListenerOptions _options;
    private IDuplexPipe _client;
    private readonly IPEndPoint _clientEndPoint;
    private readonly IPEndPoint _localEndPoint;
    private readonly IBackendConnector _connector;
    private readonly ILogger _logger;
    private readonly bool _advertise;
    private readonly Queue<ReplyFor> _awaiting = new();
    private readonly Telemetry.ProxyMetrics? _metrics;
    private readonly Func<TimeSpan?>? _clientRoundTripTime;

    private CancellationTokenSource _deadline = null!;
    private CancellationToken _aborted;
    private CancellationToken _closeRequested;
    private BackendConnection? _backend;
    private Task<string>? _clientName;
    private bool _abortBackend;
    private bool _clientUnflushed;
    private bool _backendPipelining;
    private bool _backendChunking;
    private bool _inTransaction;
    private bool _sessionOver;
    private EarlyPipeUse _early;
    private int _messages;
    private int _messagesRejected;
    private Telemetry.RoundTripCounter _roundTrips;
    private int _recipients;
    private int _commands;
    private long _bytesFromClient;
    private long _bytesToClient;
    private string _end = "client closed";
    private int _lastReplyCode;

    public InboundSession(
        InboundListener listener,
        IDuplexPipe client,
        IPEndPoint clientEndPoint,
        IPEndPoint localEndPoint,
        IBackendConnector connector,
        ILogger logger,
        Telemetry.ProxyMetrics? metrics = null,
        Func<TimeSpan?>? clientRoundTripTime = null)
    {
        _metrics = metrics;
        _clientRoundTripTime = clientRoundTripTime;
        _listener = listener;
        _options = listener.Options;
        _client = client;
        _clientEndPoint = Normalize(clientEndPoint);
        _localEndPoint = Normalize(localEndPoint);
        _connector = connector;
        _logger = logger;
        _advertise = listener.AdvertiseHosts.Contains(_clientEndPoint.Address);
    }

    public EarlyPipeUse EarlyPipeUse => _early;

    /// <summary>Runs the session to its end. <paramref name="closeRequested"/> asks for a graceful end between transactions.</summary>
    public async Task RunAsync(CancellationToken aborted, CancellationToken closeRequested = default)
    {
        var started = Stopwatch.GetTimestamp();
        _aborted = aborted;
        _closeRequested = closeRequested;
        // Linked only when there is something to link to: a plain source is cheaper per connection.
        using var deadline = aborted.CanBeCanceled ? CancellationTokenSource.CreateLinkedTokenSource(aborted) : new CancellationTokenSource();
        _deadline = deadline;
        using var wakeOnClose = closeRequested.Register(static state => ((InboundSession)state!)._client.Input.CancelPendingRead(), this);
        try
        {
            if ((!_options.ImplicitTls || await HandshakeWithClientAsync()) && await OpenBackendAsync() && await GreetAsync())
            {
                await CommandLoopAsync();
            }

            // The last word (221, 421, 550 ...) goes out before the connection closes.
            await FlushClientAsync();
        }
        catch (BackendUnavailableException ex)
        {
            await FailPendingAsync(ex);
        }
        catch (Exception ex) when (aborted.IsCancellationRequested || ex is Microsoft.AspNetCore.Connections.ConnectionAbortedException)
        {
            _end = "connection aborted";
            _abortBackend |= _inTransaction;
        }
        catch (OperationCanceledException)
        {
            // Only our deadline is left to have fired, and only while waiting for the client.
            _end = "timeout";
            _abortBackend |= _inTransaction;
            await TryWriteFinalAsync(ProxyReplies.Timeout);
        }
        catch (IOException)
        {
            _end = "client connection lost";
            _abortBackend |= _inTransaction;
        }
        finally
        {
            await CloseBackendAsync();
            await CloseClientTlsAsync();
            LogSession(Stopwatch.GetElapsedTime(started));
        }
    }

    private async ValueTask CommandLoopAsync()
    {
        while (!_sessionOver)
        {
            // Read afresh each time: STARTTLS replaces the client's pipes.
            var input = _client.Input;
            if (_closeRequested.IsCancellationRequested && !_inTransaction)
            {
                await LocalReplyAsync(ProxyReplies.ShuttingDown);
                _end = "shutdown";
                return;
            }

            var result = await ReadClientAsync(_options.Timeouts.Command);
            if (result.IsCanceled)
            {
                continue;
            }

            var buffer = result.Buffer;
            var reader = new SequenceReader<byte>(buffer);
            var status = SmtpLineReader.TryReadCommandLine(ref reader, _options.Limits.MaxLineLength, _options.Limits.MaxAuthLineLength, out var line);

            switch (status)
            {
                case LineReadStatus.Incomplete:
                    input.AdvanceTo(buffer.Start, buffer.End);
                    if (result.IsCompleted)
                    {
                        _end = buffer.IsEmpty ? "client closed" : "client closed mid-command";
                        _abortBackend |= _inTransaction;
                        return;
                    }

                    continue;

                case LineReadStatus.TooLong:
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
            var lineEnd = reader.Position;
            var moreBuffered = !reader.End;
            var command = SmtpCommandParser.Parse(line);
            if (_needEhlo && command.Verb is not (SmtpVerb.Ehlo or SmtpVerb.Helo or SmtpVerb.Quit or SmtpVerb.Noop or SmtpVerb.Rset))
            {
                // RFC 3207 §4.2: after the handshake the client starts over with EHLO.
                input.AdvanceTo(lineEnd);
                await LocalReplyAsync(ProxyReplies.SendEhloFirst);
                continue;
            }

            if (ForwardsLine(command, moreBuffered))
            {
                WriteToBackend(buffer.Slice(line.Start, lineEnd));
            }

            input.AdvanceTo(lineEnd);
            await ExecuteAsync(command, moreBuffered);
        }
    }

    /// <summary>Whether the command line goes to the backend as it is; decided before the client's buffer moves on.</summary>
    private bool ForwardsLine(SmtpCommand command, bool moreBuffered) => command.Verb switch
    {
        SmtpVerb.StartTls or SmtpVerb.Xclient or SmtpVerb.Xforward => false,
        SmtpVerb.Data => !moreBuffered,
        SmtpVerb.Bdat => _backendChunking && !command.IsMalformedBdat,
        _ => true,
    };

    private async ValueTask ExecuteAsync(SmtpCommand command, bool moreBuffered)
    {
        switch (command.Verb)
        {
            case SmtpVerb.Ehlo:
                await SendAndDrainAsync(ReplyFor.Ehlo);
                break;
            case SmtpVerb.Helo:
                await SendAndDrainAsync(ReplyFor.Helo);
                break;
            case SmtpVerb.Mail:
                await SendAsync(ReplyFor.Mail, SmtpVerb.Mail);
                break;
            case SmtpVerb.Rcpt:
                await SendAsync(ReplyFor.Rcpt, SmtpVerb.Rcpt);
                break;
            case SmtpVerb.Rset:
                await SendAsync(ReplyFor.Rset, SmtpVerb.Rset);
                break;
            case SmtpVerb.Quit:
                await SendAndDrainAsync(ReplyFor.Quit);
                await FlushClientAsync();
                _sessionOver = true;
                break;
            case SmtpVerb.Data:
                await DataAsync(moreBuffered);
                break;
            case SmtpVerb.Bdat:
                await BdatAsync(command, moreBuffered);
                break;
            case SmtpVerb.Auth:
                await AuthAsync();
                break;
            case SmtpVerb.StartTls:
                await StartTlsAsync();
                break;
            case SmtpVerb.Xclient:
            case SmtpVerb.Xforward:
                await LocalReplyAsync(ProxyReplies.NotAuthorized);
                break;
            default:
                await SendAsync(ReplyFor.Other, command.Verb);
                break;
        }
    }

    /// <summary>
    /// The line is already in the backend's output. Toward a PIPELINING backend it waits there until its group ends
    /// (RFC 2920 §3.1) or the cap is reached; toward a lockstep backend its reply is collected at once.
    /// </summary>
    private ValueTask SendAsync(ReplyFor replyFor, SmtpVerb verb)
    {
        _awaiting.Enqueue(replyFor);
        return !_backendPipelining || PipeliningRules.EndsGroup(verb) || _awaiting.Count >= _options.Limits.MaxPipelinedCommands
            ? DrainAsync()
            : ValueTask.CompletedTask;
    }

    private ValueTask SendAndDrainAsync(ReplyFor replyFor)
    {
        _awaiting.Enqueue(replyFor);
        return DrainAsync();
    }

    /// <summary>Sends what is buffered for the backend and relays every awaited reply to the client, in order.</summary>
    private async ValueTask DrainAsync()
    {
        if (_awaiting.Count == 0)
        {
            return;
        }

        var backend = _backend!;
        await FlushBackendAsync();
        var sent = Stopwatch.GetTimestamp();
        while (_awaiting.Count > 0)
        {
            var reply = await ReadBackendReplyAsync(_options.Timeouts.BackendReply);
            _metrics?.UpstreamReplied(_listener.Name, Telemetry.Direction.Inbound, Stopwatch.GetElapsedTime(sent));
            var code = reply.Code;
            RelayReply(_awaiting.Dequeue(), reply);
            backend.ReleaseReply();
            if (code is 221 or 421)
            {
                // The backend is closing the connection (RFC 5321 §3.8): what it still owes will never come, and
                // nothing we add after its last word would be true.
                _awaiting.Clear();
                _sessionOver = true;
                _end = code == 221 ? "QUIT" : "backend closed with 421";
            }
        }
    }

    private void RelayReply(ReplyFor replyFor, in SmtpReply reply)
    {
        _lastReplyCode = reply.Code;
        var positive = reply.IsPositiveCompletion;
        switch (replyFor)
        {
            case ReplyFor.Ehlo when reply.Code == 250 && EhloCapabilities.TryParse(reply.Raw, out var capabilities):
                WriteEhloReply(capabilities!);
                _inTransaction = false;
                _needEhlo = false;
                return;
            case ReplyFor.Ehlo:
            case ReplyFor.Helo:
                _needEhlo &= !positive;
                // After HELO, or an EHLO the backend refused, no extension is in force.
                _backendPipelining = false;
                _backendChunking = false;
                _inTransaction = false;
                break;
            case ReplyFor.Mail:
                _inTransaction |= positive;
                break;
            case ReplyFor.Rcpt when positive:
                _recipients++;
                break;
            case ReplyFor.Rset when positive:
                _inTransaction = false;
                break;
            case ReplyFor.EndOfMessage:
                // Whatever the outcome, the transaction is over (RFC 5321 §4.1.1.4; RFC 3030 §2 for BDAT LAST).
                _inTransaction = false;
                if (positive)
                {
                    _messages++;
                }
                else
                {
                    _messagesRejected++;
                }

                break;
        }

        WriteToClient(reply.Raw);
    }

    /// <summary>
    /// The backend's EHLO reply with our edits: PIPELINING always (we accept pipelining from every client), the
    /// early-pipelining keyword for advertise hosts right after it, and nothing we cannot honour end to end.
    /// Deterministic, so a client's cached copy stays valid across connections.
    /// </summary>
    private void WriteEhloReply(EhloCapabilities capabilities)
    {
        _backendPipelining = capabilities.Contains(SmtpKeywords.Pipelining);
        _backendChunking = capabilities.Contains(SmtpKeywords.Chunking);
        foreach (var keyword in HiddenKeywords)
        {
            capabilities.Remove(keyword);
        }

        capabilities.Add(SmtpKeywords.Pipelining);
        if (_listener.Certificates is not null && _clientTls is null)
        {
            capabilities.Add(SmtpKeywords.StartTls);
        }

        if (_advertise)
        {
            capabilities.Add(_options.PipeConnect.Keyword, after: SmtpKeywords.Pipelining);
            if (_early == EarlyPipeUse.NotAdvertised)
            {
                _early = EarlyPipeUse.Advertised;
            }
        }

        var before = _client.Output.UnflushedBytes;
        capabilities.WriteTo(_client.Output);
        _bytesToClient += _client.Output.UnflushedBytes - before;
        _clientUnflushed = true;
        _roundTrips.Replied(250);
        _metrics?.Reply(_listener.Name, Telemetry.Direction.Inbound, 250);
    }

    /// <summary>A reply of our own, in its place: everything the backend still owes the client goes first.</summary>
    private ValueTask LocalReplyAsync(ReadOnlySpan<byte> reply)
    {
        if (_awaiting.Count == 0)
        {
            WriteToClient(reply);
            return ValueTask.CompletedTask;
        }

        return DrainThenReplyAsync(reply.ToArray());
    }

    private async ValueTask DrainThenReplyAsync(byte[] reply)
    {
        await DrainAsync();
        WriteToClient(reply);
    }

    /// <summary>Discards the rest of an over-long line; false when the client went away meanwhile.</summary>
    private async ValueTask<bool> SkipLineAsync()
    {
        var input = _client.Input;
        while (true)
        {
            var result = await ReadClientAsync(_options.Timeouts.Command);
            var buffer = result.Buffer;
            var reader = new SequenceReader<byte>(buffer);
            var found = SmtpLineReader.TrySkipLine(ref reader);
            input.AdvanceTo(reader.Position);
            if (found)
            {
                return true;
            }

            if (result.IsCompleted)
            {
                _end = "client closed mid-command";
                return false;
            }
        }
    }

    private static IPEndPoint Normalize(IPEndPoint endPoint)
        => endPoint.Address.IsIPv4MappedToIPv6 ? new IPEndPoint(endPoint.Address.MapToIPv4(), endPoint.Port) : endPoint;

    /// <summary>Up to <paramref name="limit"/> octets of client input for a log line, non-printables escaped as Exim does.</summary>
    private static string Printable(in ReadOnlySequence<byte> buffer, int limit)
    {
        var builder = new System.Text.StringBuilder();
        foreach (var b in buffer.Slice(0, Math.Min(limit, buffer.Length)).ToArray())
        {
            _ = b switch
            {
                (byte)'\r' => builder.Append("\\r"),
                (byte)'\n' => builder.Append("\\n"),
                (byte)'"' or (byte)'\\' => builder.Append('\\').Append((char)b),
                >= 0x20 and < 0x7f => builder.Append((char)b),
                _ => builder.Append("\\x").Append(b.ToString("x2", System.Globalization.CultureInfo.InvariantCulture)),
            };
        }

        return builder.ToString();
    }
}
