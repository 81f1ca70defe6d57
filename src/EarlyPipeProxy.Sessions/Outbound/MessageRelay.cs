using System.Buffers;
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
/// A message the sender sends in BDAT chunks (<see cref="ChunkAsync"/>) goes as BDAT to a remote with CHUNKING and as
/// DATA to one without (<see cref="ChunksAsData"/>).
/// </summary>
internal sealed class MessageRelay
{
    private readonly OutboundListenerOptions _options;
    private readonly DownstreamChannel _sender;
    private readonly RemoteLink _remote;
    private readonly PendingReplies _pending;
    private readonly SessionRecord _record;
    private bool _over;

    // A BDAT message relayed as BDAT, between its chunks.
    private bool _chunksAsBdat;

    // A BDAT message the remote (without CHUNKING) receives as DATA, between its chunks: its DATA is open there.
    private ChunksAsData? _chunksAsData;

    // The refusal of a BDAT message's start: it answers the message's chunks still to come.
    private byte[]? _chunksRefusal;

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

    /// <summary>A BDAT message is open toward a remote that receives it as DATA: nothing but its chunks may reach the remote.</summary>
    public bool ConvertedMessageOpen => _chunksAsData is not null;

    /// <summary>A command other than BDAT: a chunked message relayed as BDAT, or refused at its start, is over here.</summary>
    public void OtherCommand()
    {
        _chunksAsBdat = false;
        _chunksRefusal = null;
    }

    /// <summary>
    /// The sender gave up a message the remote receives as DATA (QUIT, RSET between chunks): the remote connection is
    /// reset when the session closes, so it never sees an end of data.
    /// </summary>
    public void AbandonConvertedMessage()
    {
        _chunksAsData = null;
        _remote.Channel!.AbortOnClose = true;
        _pending.EndTransaction();
    }

    /// <summary>
    /// One BDAT chunk from the sender (its owed replies delivered first). The message's first chunk decides where it
    /// goes: nowhere, with the refusal of its MAIL, of the session, or for want of recipients (the chunk is read and
    /// dropped, and the refusal answers its later chunks too); as BDAT to a remote with CHUNKING, each chunk answered
    /// with the remote's reply; else as DATA (the remote's 354 awaited first, or its refusal relayed), each chunk
    /// streamed dot-stuffed and answered here, "250 2.0.0 n octets received", except BDAT LAST, whose answer is the
    /// remote's verdict on the end of data. False when the session is over.
    /// </summary>
    public async ValueTask<bool> ChunkAsync(SmtpCommand command)
    {
        _over = false;
        var size = command.BdatChunkSize;
        var last = command.BdatLast;
        if (_chunksRefusal is { } refused)
        {
            await RefuseChunkAsync(size, last, refused);
            return !_over;
        }

        if (!_chunksAsBdat && _chunksAsData is null && !await StartChunkedMessageAsync(size, last))
        {
            return !_over;
        }

        if (_chunksAsBdat)
        {
            await RelayChunkAsBdatAsync(size, last);
        }
        else
        {
            await ConvertChunkAsync(size, last);
        }

        return !_over;
    }

    /// <summary>Where a chunked message goes; false when its first chunk was answered with a refusal instead.</summary>
    private async ValueTask<bool> StartChunkedMessageAsync(long size, bool last)
    {
        if ((_remote.Refusal ?? _pending.MailRefusal) is { } refusal)
        {
            await RefuseChunkAsync(size, last, refusal);
            return false;
        }

        if (_pending.AcceptedRecipients == 0)
        {
            await RefuseChunkAsync(size, last, ProxyReplies.NeedRecipient.ToArray());
            return false;
        }

        var channel = _remote.Channel!;
        _pending.InTransaction = true;
        if (_remote.Chunking)
        {
            _chunksAsBdat = true;
            return true;
        }

        SmtpCommandWriter.WriteData(channel.Output);
        await channel.FlushAsync();
        var reply = await channel.ReadReplyCopyAsync(_options.Timeouts.BackendReply);
        if (reply.Code == ReplyCode.StartMailInput)
        {
            _chunksAsData = new ChunksAsData(channel, _record);
            return true;
        }

        if (!ReplyCode.IsTransientNegative(reply.Code) && !ReplyCode.IsPermanentNegative(reply.Code))
        {
            // A 250 to DATA: out of step, and the sender must not read acceptance into it.
            if (await ReadChunkAsync(size, take: null))
            {
                OutOfSequence(reply, "DATA");
            }

            return false;
        }

        await RefuseChunkAsync(size, last, reply.Raw);
        EndIfClosing(reply);
        return false;
    }

    /// <summary>The chunk is read and dropped and <paramref name="refusal"/> answers it, and the message's later chunks.</summary>
    private async ValueTask RefuseChunkAsync(long size, bool last, byte[] refusal)
    {
        if (await ReadChunkAsync(size, take: null))
        {
            _sender.Write(refusal);
            _chunksRefusal = last ? null : refusal;
        }
    }

    /// <summary>BDAT to a remote with CHUNKING: the chunk as it came (binary-safe), and the remote's reply to it.</summary>
    private async ValueTask RelayChunkAsBdatAsync(long size, bool last)
    {
        var channel = _remote.Channel!;
        SmtpCommandWriter.WriteBdat(channel.Output, size, last);
        if (!await ReadChunkAsync(size, async piece =>
            {
                channel.Write(piece);
                await channel.FlushAsync();
            }))
        {
            _chunksAsBdat = false;
            return;
        }

        // From this flush the remote may have the end of the message: an abort before its verdict is a possible duplicate.
        _record.AwaitingVerdict |= last;
        await channel.FlushAsync();
        var reply = await channel.ReadReplyCopyAsync(_options.Timeouts.BackendReply);
        if (last)
        {
            _chunksAsBdat = false;
            FinishMessage(reply);
            return;
        }

        _sender.Write(reply.Raw);
        EndIfClosing(reply);
    }

    /// <summary>A chunk of a message the remote receives as DATA: streamed dot-stuffed; BDAT LAST ends the DATA.</summary>
    private async ValueTask ConvertChunkAsync(long size, bool last)
    {
        var channel = _remote.Channel!;
        var message = _chunksAsData!;
        if (!await ReadChunkAsync(size, message.WriteAsync))
        {
            _chunksAsData = null;
            return;
        }

        if (!message.Refused && !last)
        {
            _sender.Write(ProxyReplies.ChunkReceived(size));
            return;
        }

        _chunksAsData = null;
        if (message.Refused || !await message.EndAsync())
        {
            // The remote connection is already reset: it never sees an end of data for this message.
            _sender.Write(ProxyReplies.BareLineEndingInData);
            _record.Ended(SessionEnd.BareLineEndingInData);
            _pending.EndTransaction();
            _over = true;
            return;
        }

        _record.AwaitingVerdict = true;
        await channel.FlushAsync();
        FinishMessage(await channel.ReadReplyCopyAsync(_options.Timeouts.BackendReply));
    }

    /// <summary>Exactly <paramref name="size"/> octets from the sender into <paramref name="take"/> (nowhere when null); false when the session ends.</summary>
    private async ValueTask<bool> ReadChunkAsync(long size, Func<ReadOnlySequence<byte>, ValueTask>? take)
    {
        var channel = _remote.Channel;
        switch (await BdatChunkReader.ReadAsync(_sender, size, _options.Timeouts.Data, _record, take))
        {
            case BdatChunkOutcome.Complete:
                return true;
            case BdatChunkOutcome.Stopped:
                // The stop's cut-off came first: the remote is reset, never seeing the end of the message.
                _sender.Write(ProxyReplies.ShuttingDown);
                _record.Ended(SessionEnd.ShutdownMessageAbandoned);
                _pending.EndTransaction();
                break;
            case BdatChunkOutcome.PeerLost:
                _record.Ended(SessionEnd.PeerLostDuringBdat);
                break;
        }

        if (channel is not null)
        {
            channel.AbortOnClose = true;
        }

        _over = true;
        return false;
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

        _remote.Messages++;
        if (final.IsPositiveCompletion)
        {
            // The transaction is over at the remote by its own word: the connection may serve another session.
            _pending.RemoteClean = true;
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
