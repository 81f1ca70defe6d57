using System.Buffers;
using System.Globalization;
using EarlyPipeProxy.Protocol.Data;
using EarlyPipeProxy.Sessions.Inbound;

namespace EarlyPipeProxy.Sessions.Outbound;

// The message itself: DATA from the sender, DATA or BDAT toward the remote.
public sealed partial class OutboundSession
{
    // A BDAT chunk leaves once this much message has built up (a large read makes a larger one): large enough that
    // chunk headers and replies cost nothing, small enough that the replies collected at the end stay few.
    private const int ChunkSize = 64 * 1024;

    private ArrayBufferWriter<byte>? _chunk;

    /// <summary>
    /// DATA. With accepted recipients the sender gets 354 at once; the remote gets BDAT chunks (CHUNKING) or DATA sent
    /// right away, its 354 arriving while the sender writes. A remote that refuses DATA has its refusal given as the
    /// answer to the end of the message, which it then never sees. Without accepted recipients the remote decides.
    /// </summary>
    private async ValueTask DataAsync(bool moreBuffered)
    {
        if (moreBuffered)
        {
            // RFC 2920 §3.1: DATA ends a group; a body sent before its 354 cannot be told from commands.
            await LocalReplyAsync(ProxyReplies.SynchronizationError);
            _end = "synchronization error (data before 354)";
            _sessionOver = true;
            return;
        }

        await DrainAsync();
        if (_remoteRefusal is not null || _mailRefusal is not null)
        {
            WriteToSender(_remoteRefusal ?? _mailRefusal!);
            return;
        }

        if (_acceptedRecipients == 0)
        {
            await DataWithoutRecipientsAsync();
            return;
        }

        // BDAT only where its chunks may be pipelined (RFC 3030 §4.2 wants each reply awaited otherwise): the chunks'
        // replies are read after the last one.
        var asChunks = _remoteChunking && _remotePipelining;
        WriteToSender(OutboundReplies.StartMailInput);
        RemoteReply? dataRefusal = null;
        if (!asChunks)
        {
            WriteToRemote("DATA\r\n"u8);
            await FlushRemoteAsync();
            await FlushSenderAsync();
            var reply = await ReadRemoteReplyAsync(_options.Timeouts.BackendReply);
            dataRefusal = reply.Code == 354 ? null : reply;
        }

        var final = await RelayBodyAsync(forward: dataRefusal is null, asChunks: asChunks);
        if (final is { } outcome)
        {
            FinishMessage(dataRefusal ?? outcome);
        }
    }

    private async ValueTask DataWithoutRecipientsAsync()
    {
        if (_remote is null)
        {
            // Only a MAIL acknowledged here exists; the remote was never asked anything.
            WriteToSender(OutboundReplies.NeedRecipient);
            return;
        }

        await DrainAsync(includeAcknowledged: true);
        WriteToRemote("DATA\r\n"u8);
        await FlushRemoteAsync();
        var reply = await ReadRemoteReplyAsync(_options.Timeouts.BackendReply);
        WriteToSender(reply.Raw);
        if (reply.Code != 354)
        {
            EndIfClosing(reply);
            return;
        }

        if (await RelayBodyAsync(forward: true, asChunks: false) is { } final)
        {
            FinishMessage(final);
        }
    }

    /// <summary>
    /// Reads the sender's body up to the exact &lt;CRLF&gt;.&lt;CRLF&gt; and forwards it: verbatim after DATA, or
    /// unstuffed into BDAT chunks. Returns the remote's verdict (for BDAT: the first refused chunk's reply, else the
    /// last one's); default when nothing was forwarded; null when the session is over (body refused, sender gone).
    /// </summary>
    private async ValueTask<RemoteReply?> RelayBodyAsync(bool forward, bool asChunks)
    {
        var input = _sender.Input;
        var scanner = DataTerminatorScanner.Create();
        var unstuffer = default(DotUnstuffer);
        var chunks = 0;
        var refused = false;
        _inTransaction = true;
        while (true)
        {
            var result = await ReadSenderAsync(_options.Timeouts.Data);
            var buffer = result.Buffer;
            var status = scanner.Scan(buffer, out var position);
            var piece = buffer.Slice(0, position);
            _bytesFromSender += piece.Length;
            if (status == DataScanStatus.EndOfData)
            {
                if (forward && !refused)
                {
                    if (asChunks)
                    {
                        // The body's last line keeps its CRLF; only the ".\r\n" of the terminator goes.
                        Unstuff(ref unstuffer, piece.Slice(0, piece.Length - 3));
                        WriteChunk(last: true);
                        chunks++;
                    }
                    else
                    {
                        WriteToRemote(piece);
                    }
                }

                input.AdvanceTo(position);
                break;
            }

            if (status is DataScanStatus.BareLineFeed or DataScanStatus.BareCarriageReturn or DataScanStatus.NulCharacter)
            {
                // The remote might read such a line ending as the end of the message and the rest as commands
                // (SMTP smuggling). It gets nothing more and no end of data: the reset at the end discards the message.
                LogBareLineEnding(_logger, _senderEndPoint.Address, _senderEndPoint.Port, _listener.Name,
                    status switch { DataScanStatus.BareLineFeed => "LF", DataScanStatus.BareCarriageReturn => "CR", _ => "NUL" });
                input.AdvanceTo(position);
                _abortRemote = true;
                scanner.IgnoreBareLineEndings = true;
                refused = true;
                continue;
            }

            if (forward && !refused)
            {
                if (asChunks)
                {
                    Unstuff(ref unstuffer, piece);
                    if (_chunk!.WrittenCount >= ChunkSize)
                    {
                        WriteChunk(last: false);
                        chunks++;
                        await FlushRemoteAsync();
                    }
                }
                else
                {
                    WriteToRemote(piece);
                    await FlushRemoteAsync();
                }
            }

            input.AdvanceTo(position, buffer.End);
            if (result.IsCompleted)
            {
                _end = "sender connection lost during DATA";
                _abortRemote = true;
                _sessionOver = true;
                return null;
            }
        }

        if (refused)
        {
            WriteToSender(ProxyReplies.BareLineEndingInData);
            _end = "message refused: bare CR, LF or NUL in data";
            _sessionOver = true;
            return null;
        }

        if (!forward)
        {
            return default(RemoteReply);
        }

        await FlushRemoteAsync();
        if (!asChunks)
        {
            return await ReadRemoteReplyAsync(_options.Timeouts.BackendReply);
        }

        // RFC 3030 §4.2: once a chunk is refused the transaction fails; the first refusal says why.
        RemoteReply? refusal = null;
        RemoteReply last = default;
        for (var i = 0; i < chunks; i++)
        {
            last = await ReadRemoteReplyAsync(_options.Timeouts.BackendReply);
            if (!last.IsPositiveCompletion)
            {
                refusal ??= last;
            }
        }

        return refusal ?? last;
    }

    private void Unstuff(ref DotUnstuffer unstuffer, in ReadOnlySequence<byte> piece)
    {
        _chunk ??= new ArrayBufferWriter<byte>(ChunkSize + 4096);
        foreach (var segment in piece)
        {
            unstuffer.Unstuff(segment.Span, _chunk);
        }
    }

    private void WriteChunk(bool last)
    {
        _chunk ??= new ArrayBufferWriter<byte>(ChunkSize + 4096);
        var size = _chunk.WrittenCount.ToString(CultureInfo.InvariantCulture);
        WriteAscii(_remote!, last ? $"BDAT {size} LAST\r\n" : $"BDAT {size}\r\n");
        WriteToRemote(_chunk.WrittenSpan);
        _chunk.ResetWrittenCount();
    }

    private void WriteToRemote(in ReadOnlySequence<byte> bytes)
    {
        foreach (var segment in bytes)
        {
            WriteToRemote(segment.Span);
        }
    }

    /// <summary>The remote's verdict on the message reaches the sender; the transaction is over either way.</summary>
    private void FinishMessage(RemoteReply final)
    {
        if (_earlyTransaction)
        {
            _cache.OnEarlyTransactionReply(_key, final.Code);
        }

        if (final.IsPositiveCompletion)
        {
            _messages++;
        }
        else
        {
            _messagesRejected++;
        }

        WriteToSender(final.Raw);
        EndTransaction();
        EndIfClosing(final);
    }

    /// <summary>A 421 from the remote closes its side (RFC 5321 §3.8): the session ends after relaying it.</summary>
    private void EndIfClosing(RemoteReply reply)
    {
        if (reply.Code == 421)
        {
            _sessionOver = true;
            _end = "remote closed with 421";
        }
    }
}
