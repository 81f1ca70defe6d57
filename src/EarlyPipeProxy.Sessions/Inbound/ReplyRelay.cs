using System.Buffers;
using System.Runtime.CompilerServices;
using EarlyPipeProxy.Protocol.Capabilities;
using EarlyPipeProxy.Protocol.Commands;
using EarlyPipeProxy.Protocol.Replies;
using EarlyPipeProxy.Sessions.Configuration;
using EarlyPipeProxy.Sessions.Downstream;
using EarlyPipeProxy.Sessions.Telemetry;
using EarlyPipeProxy.Sessions.Upstream;

namespace EarlyPipeProxy.Sessions.Inbound;

/// <summary>
/// Inbound policy, the heart of it: commands go to the backend in RFC 2920 groups (or one at a time to a backend
/// that does not pipeline), and every reply the backend gives goes to the client in order, the EHLO reply edited.
/// What the backend's replies establish (its extensions, whether a transaction is open, whether the client must EHLO
/// again) is kept here, where the replies are read.
/// </summary>
internal sealed class ReplyRelay
{
    private readonly Queue<ReplyFor> _awaiting = new();
    private readonly InboundListenerSettings _listener;
    private readonly DownstreamChannel _client;
    private readonly SessionRecord _record;
    private readonly bool _advertise;
    private UpstreamChannel? _backend;

    public ReplyRelay(InboundListenerSettings listener, DownstreamChannel client, SessionRecord record, bool advertise)
    {
        _listener = listener;
        _client = client;
        _record = record;
        _advertise = advertise;
    }

    public UpstreamChannel Backend
    {
        get => _backend ?? throw new InvalidOperationException("no backend connection yet");
        set => _backend = value;
    }

    public bool HasBackend => _backend is not null;

    /// <summary>Replies the backend owes the client.</summary>
    public int Awaiting => _awaiting.Count;

    /// <summary>The backend offered PIPELINING in its last EHLO reply.</summary>
    public bool BackendPipelining { get; private set; }

    /// <summary>The backend offered CHUNKING (BDAT) in its last EHLO reply.</summary>
    public bool BackendChunking { get; private set; }

    /// <summary>A MAIL transaction is open (accepted MAIL, or message data under way) and not yet ended.</summary>
    public bool InTransaction { get; set; }

    /// <summary>After TLS the client starts over with EHLO (RFC 3207 §4.2); until a positive EHLO/HELO reply, that is all it may do.</summary>
    public bool NeedEhlo { get; set; }

    /// <summary>AUTH may be offered and relayed: the client's connection is protected, or the listener allows cleartext.</summary>
    public bool AuthAllowed => _client.Tls is not null || _listener.Options.AllowCleartextAuth;

    /// <summary>The code of the reply last relayed.</summary>
    public int LastCode { get; private set; }

    /// <summary>The backend's reply to the proxy's own DATA (<see cref="ReplyFor.DataForChunks"/>), held for the session to place.</summary>
    public byte[]? HeldReply { get; private set; }

    /// <summary>The backend said 221 or 421: it is closing, and the session ends after relaying its last word.</summary>
    public bool BackendClosing { get; private set; }

    /// <summary>
    /// The command's line is already in the backend's output. Toward a PIPELINING backend it waits there until its
    /// group ends (RFC 2920 §3.1) or the cap is reached; toward a lockstep backend its reply is collected at once.
    /// </summary>
    public ValueTask SendAsync(ReplyFor replyFor, SmtpVerb verb)
    {
        _awaiting.Enqueue(replyFor);
        return !BackendPipelining || PipeliningRules.EndsGroup(verb) || _awaiting.Count >= _listener.Options.Limits.MaxPipelinedCommands
            ? DrainAsync()
            : ValueTask.CompletedTask;
    }

    public ValueTask SendAndDrainAsync(ReplyFor replyFor)
    {
        _awaiting.Enqueue(replyFor);
        return DrainAsync();
    }

    /// <summary>Sends what is buffered for the backend and relays every awaited reply to the client, in order.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask DrainAsync()
    {
        if (_awaiting.Count == 0)
        {
            return;
        }

        var backend = Backend;
        await backend.FlushAsync();
        while (_awaiting.Count > 0)
        {
            var reply = await backend.ReadReplyAsync(_listener.Options.Timeouts.BackendReply);
            var code = reply.Code;
            Relay(_awaiting.Dequeue(), reply);
            backend.ReleaseReply();
            await _client.FlushIfOverLimitAsync();
            if (code is ReplyCode.Closing or ReplyCode.ServiceNotAvailable)
            {
                // The backend is closing the connection (RFC 5321 §3.8): what it still owes will never come, and
                // nothing we add after its last word would be true.
                _awaiting.Clear();
                BackendClosing = true;
                _record.Ended(code == ReplyCode.Closing ? Lifetime.SessionEnd.Quit : Lifetime.SessionEnd.UpstreamClosedWith421);
            }
        }

        if (!BackendClosing)
        {
            backend.EnsureNothingUnsolicited();
        }
    }

    /// <summary>A reply of our own, in its place: everything the backend still owes the client goes first.</summary>
    public ValueTask LocalReplyAsync(ReadOnlySpan<byte> reply)
    {
        if (_awaiting.Count == 0)
        {
            _client.Write(reply);
            return ValueTask.CompletedTask;
        }

        return DrainThenReplyAsync(reply.ToArray());
    }

    /// <summary>The backend failed: every reply it owed becomes 421 (at least one: the client waits for something).</summary>
    public void FailAwaiting()
    {
        var replies = Math.Max(1, _awaiting.Count);
        _awaiting.Clear();
        for (var i = 0; i < replies; i++)
        {
            _client.Write(ProxyReplies.BackendUnavailable);
        }
    }

    private async ValueTask DrainThenReplyAsync(byte[] reply)
    {
        await DrainAsync();
        _client.Write(reply);
    }

    private void Relay(ReplyFor replyFor, in SmtpReply reply)
    {
        LastCode = reply.Code;
        var positive = ReplyCode.IsPositiveCompletion(reply.Code);
        switch (replyFor)
        {
            case ReplyFor.Ehlo when reply.Code == ReplyCode.Ok && EhloCapabilities.TryParse(reply.Raw, out var capabilities):
                BackendPipelining = capabilities!.Contains(SmtpKeywords.Pipelining);
                BackendChunking = capabilities.Contains(SmtpKeywords.Chunking);
                if (InboundEhloEditor.Edit(capabilities, _listener, _advertise, offerStartTls: _listener.Certificates is not null && _client.Tls is null,
                        offerAuth: AuthAllowed)
                    && _record.Early == EarlyPipeUse.NotAdvertised)
                {
                    _record.Early = EarlyPipeUse.Advertised;
                }

                _client.Write(capabilities);
                InTransaction = false;
                NeedEhlo = false;
                return;
            case ReplyFor.Ehlo:
            case ReplyFor.Helo:
                NeedEhlo &= !positive;
                // After HELO, or an EHLO the backend refused, no extension is in force.
                BackendPipelining = false;
                BackendChunking = false;
                InTransaction = false;
                break;
            case ReplyFor.DataForChunks when reply.Code is not (ReplyCode.ServiceNotAvailable or ReplyCode.Closing):
                // Not the client's: it sent BDAT, which is answered once its chunk is in. A 421 (or 221) is relayed at
                // once, as the backend's last word.
                HeldReply = reply.Raw.ToArray();
                return;
            case ReplyFor.Mail:
                InTransaction |= positive;
                break;
            case ReplyFor.Rcpt when positive:
                _record.Recipients++;
                break;
            case ReplyFor.Rset when positive:
                InTransaction = false;
                break;
            case ReplyFor.EndOfMessage:
                // Whatever the outcome, the transaction is over (RFC 5321 §4.1.1.4; RFC 3030 §2 for BDAT LAST).
                InTransaction = false;
                if (positive)
                {
                    _record.MessagesAccepted++;
                    if (reply.TryGetQueueId(out var queueId))
                    {
                        _record.MessageQueued(queueId);
                    }
                }
                else
                {
                    _record.MessagesRejected++;
                }

                break;
        }

        _client.Write(reply.Raw);
    }
}
