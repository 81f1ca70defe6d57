using EarlyPipeProxy.Protocol.Commands;
using EarlyPipeProxy.Protocol.Replies;
using EarlyPipeProxy.Sessions.Configuration;
using EarlyPipeProxy.Sessions.Downstream;
using EarlyPipeProxy.Sessions.Lifetime;
using EarlyPipeProxy.Sessions.Logging;
using EarlyPipeProxy.Sessions.Messages;
using EarlyPipeProxy.Sessions.Telemetry;
using EarlyPipeProxy.Sessions.Upstream;

namespace EarlyPipeProxy.Sessions.Outbound;

/// <summary>
/// Outbound policy: one message, from the sender's DATA to the remote's verdict. With accepted recipients the sender
/// gets 354 at once; the remote gets BDAT chunks (<see cref="BdatSink"/>, where it offers CHUNKING and PIPELINING) or
/// DATA sent right away, its 354 arriving while the sender writes. A remote that refuses DATA has its refusal given as
/// the answer to the end of the message, which it then never sees. Without accepted recipients the remote decides.
/// </summary>
internal sealed class MessageRelay
{
    private readonly OutboundListenerOptions _options;
    private readonly DownstreamChannel _sender;
    private readonly RemoteLink _remote;
    private readonly PendingReplies _pending;
    private readonly SessionRecord _record;
    private bool _over;

    public MessageRelay(OutboundListenerOptions options, DownstreamChannel sender, RemoteLink remote, PendingReplies pending, SessionRecord record)
    {
        _options = options;
        _sender = sender;
        _remote = remote;
        _pending = pending;
        _record = record;
    }

    /// <summary>
    /// The message after DATA, its owed replies delivered (<paramref name="drainAsync"/> delivers them, including a
    /// MAIL acknowledged here when its argument says so). False when the session is over.
    /// </summary>
    public async ValueTask<bool> RelayAsync(Func<bool, ValueTask> drainAsync)
    {
        _over = false;
        if ((_remote.Refusal ?? _pending.MailRefusal) is { } refusal)
        {
            _sender.Write(refusal);
            return true;
        }

        if (_pending.AcceptedRecipients == 0)
        {
            await WithoutRecipientsAsync(drainAsync);
            return !_over;
        }

        // BDAT only where its chunks may be pipelined (RFC 3030 §4.2 wants each reply awaited otherwise): the chunks'
        // replies are read after the last one.
        var channel = _remote.Channel!;
        var asChunks = _remote.Chunking && _remote.Pipelining;
        _sender.Write(ProxyReplies.StartMailInput);
        UpstreamReply? dataRefusal = null;
        if (!asChunks)
        {
            SmtpCommandWriter.WriteData(channel.Output);
            await channel.FlushAsync();
            await _sender.FlushAsync();
            var reply = await channel.ReadReplyCopyAsync(_options.Timeouts.BackendReply);
            dataRefusal = reply.Code == ReplyCode.StartMailInput ? null : reply;
        }

        if (dataRefusal is { } odd && !ReplyCode.IsTransientNegative(odd.Code) && !ReplyCode.IsPermanentNegative(odd.Code))
        {
            // Anything but 354 or a refusal (a 250, say) means the remote did not take the message and is out of
            // step with us: the body is read and dropped, and the sender must not read acceptance into it.
            if (await RelayBodyAsync(new UpstreamBodySink(channel, forward: false)))
            {
                OutOfSequence(odd, "DATA");
            }

            return false;
        }

        if (asChunks)
        {
            var chunks = new BdatSink(channel);
            if (await RelayBodyAsync(chunks) && await ChunkVerdictAsync(channel, chunks.Chunks) is { } verdict)
            {
                FinishMessage(verdict);
            }

            return !_over;
        }

        if (await RelayBodyAsync(new UpstreamBodySink(channel, forward: dataRefusal is null)))
        {
            FinishMessage(dataRefusal ?? await channel.ReadReplyCopyAsync(_options.Timeouts.BackendReply));
        }

        return !_over;
    }

    private async ValueTask WithoutRecipientsAsync(Func<bool, ValueTask> drainAsync)
    {
        if (_remote.Channel is null)
        {
            // Only a MAIL acknowledged here exists; the remote was never asked anything.
            _sender.Write(ProxyReplies.NeedRecipient);
            return;
        }

        await drainAsync(true);
        var channel = _remote.Channel!;
        SmtpCommandWriter.WriteData(channel.Output);
        await channel.FlushAsync();
        var reply = await channel.ReadReplyCopyAsync(_options.Timeouts.BackendReply);
        _sender.Write(reply.Raw);
        if (reply.Code != ReplyCode.StartMailInput)
        {
            EndIfClosing(reply);
            return;
        }

        if (await RelayBodyAsync(new UpstreamBodySink(channel)))
        {
            FinishMessage(await channel.ReadReplyCopyAsync(_options.Timeouts.BackendReply));
        }
    }

    /// <summary>The body into <paramref name="sink"/>; true when it ended well and the remote's verdict is to be read.</summary>
    private async ValueTask<bool> RelayBodyAsync(IMessageBodySink sink)
    {
        var channel = _remote.Channel!;
        _pending.InTransaction = true;
        switch (await MessageBodyReader.ReadAsync(_sender, sink, _options.Timeouts.Data, _record))
        {
            case MessageBodyOutcome.Complete:
                // From this flush the remote may have the end of data: an abort before its verdict is a possible duplicate.
                _record.AwaitingVerdict = true;
                await channel.FlushAsync();
                return true;
            case MessageBodyOutcome.Stopped:
                // The stop's cut-off came first: the remote is reset, never seeing the end of data, and the sender
                // will send the message again.
                _sender.Write(ProxyReplies.ShuttingDown);
                _record.Ended(SessionEnd.ShutdownMessageAbandoned);
                channel.AbortOnClose = true;
                _pending.EndTransaction();
                break;
            case MessageBodyOutcome.Refused:
                _sender.Write(ProxyReplies.BareLineEndingInData);
                _record.Ended(SessionEnd.BareLineEndingInData);
                break;
            default:
                _record.Ended(SessionEnd.PeerLostDuringData);
                channel.AbortOnClose = true;
                break;
        }

        _over = true;
        return false;
    }

    /// <summary>RFC 3030 §4.2: once a chunk is refused the transaction fails; the first refusal says why, else the last reply.</summary>
    private async ValueTask<UpstreamReply?> ChunkVerdictAsync(UpstreamChannel channel, int chunks)
    {
        UpstreamReply? refusal = null;
        UpstreamReply? last = null;
        for (var i = 0; i < chunks; i++)
        {
            var reply = await channel.ReadReplyCopyAsync(_options.Timeouts.BackendReply);
            last = reply;
            if (!reply.IsPositiveCompletion)
            {
                refusal ??= reply;
            }
        }

        return refusal ?? last;
    }

    /// <summary>The remote's verdict on the message reaches the sender; the transaction is over either way.</summary>
    private void FinishMessage(UpstreamReply final)
    {
        if (_pending.EarlyTransaction)
        {
            _remote.Cache.OnEarlyTransactionReply(_remote.Key, final.Code);
        }

        if (final.IsPositiveCompletion)
        {
            _record.MessagesAccepted++;
            if (SmtpReply.TryGetQueueId(final.Code, final.AsSequence(), out var queueId))
            {
                _record.MessageQueued(queueId);
            }
        }
        else
        {
            _record.MessagesRejected++;
        }

        _sender.Write(final.Raw);
        _record.AwaitingVerdict = false;
        _pending.EndTransaction();
        EndIfClosing(final);
    }

    /// <summary>
    /// The remote answered out of sequence: the sender's end of data gets a temporary failure (it will try again),
    /// the remote connection is reset and the session ends, since nothing the remote says next can be trusted.
    /// </summary>
    private void OutOfSequence(UpstreamReply reply, string command)
    {
        SessionLog.UpstreamUnavailable(_record.Logger, "remote", "U", _record.Upstream, _record.Peer.Address, _record.Peer.Port, _record.Listener,
            $"answered {command} with {reply.Code}");
        _sender.Write(ProxyReplies.RemoteOutOfSequence);
        _record.AwaitingVerdict = false;
        _remote.Channel!.AbortOnClose = true;
        _pending.EndTransaction();
        _record.MessagesRejected++;
        _record.EndedUnavailable(UpstreamFailure.MalformedReply);
        _over = true;
    }

    /// <summary>A 421 from the remote closes its side (RFC 5321 §3.8): the session ends after relaying it.</summary>
    private void EndIfClosing(UpstreamReply reply)
    {
        if (reply.Code == ReplyCode.ServiceNotAvailable)
        {
            _over = true;
            _record.Ended(SessionEnd.UpstreamClosedWith421);
        }
    }
}
