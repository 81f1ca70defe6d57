using System.Buffers;
using EarlyPipeProxy.Protocol.Commands;
using EarlyPipeProxy.Protocol.Data;
using EarlyPipeProxy.Protocol.Lines;

namespace EarlyPipeProxy.Sessions.Inbound;

// Message content and SASL: the parts of a session where client bytes are not commands.
public sealed partial class InboundSession
{
    private static ReadOnlySpan<byte> SaslCancel => "*\r\n"u8;

    /// <summary>
    /// DATA: the backend's 354 first, then the body verbatim up to the exact &lt;CRLF&gt;.&lt;CRLF&gt;, then the
    /// backend's verdict. A client that sends the body before the 354 is out of sync (RFC 2920 §3.1) and is cut off
    /// before anything reaches the backend.
    /// </summary>
    private async ValueTask DataAsync(bool moreBuffered)
    {
        if (moreBuffered)
        {
            await LocalReplyAsync(ProxyReplies.SynchronizationError);
            _end = "synchronization error (data before 354)";
            _sessionOver = true;
            return;
        }

        await SendAndDrainAsync(ReplyFor.Data);
        if (_lastReplyCode == 354)
        {
            _inTransaction = true;
            await RelayBodyAsync();
        }
    }

    private async ValueTask RelayBodyAsync()
    {
        var input = _client.Input;
        var scanner = DataTerminatorScanner.Create();
        var refused = false;
        while (true)
        {
            var result = await ReadClientAsync(_options.Timeouts.Data);
            if (result.IsCanceled)
            {
                continue;
            }

            var buffer = result.Buffer;
            var status = scanner.Scan(buffer, out var position);
            switch (status)
            {
                case DataScanStatus.EndOfData when refused:
                    input.AdvanceTo(position);
                    await LocalReplyAsync(ProxyReplies.BareLineEndingInData);
                    _end = "message refused: bare CR, LF or NUL in data";
                    _inTransaction = false;
                    _sessionOver = true;
                    return;

                case DataScanStatus.EndOfData:
                    WriteToBackend(buffer.Slice(0, position));
                    input.AdvanceTo(position);
                    await SendAndDrainAsync(ReplyFor.EndOfMessage);
                    return;

                case DataScanStatus.BareLineFeed:
                case DataScanStatus.BareCarriageReturn:
                case DataScanStatus.NulCharacter:
                    // Another MTA might read this line ending as the end of the message and the rest as new commands.
                    // The backend gets nothing more and no end-of-data: dropping the connection discards the message.
                    LogBareLineEnding(_logger, _clientEndPoint.Address, _clientEndPoint.Port, _listener.Name,
                        status switch { DataScanStatus.BareLineFeed => "LF", DataScanStatus.BareCarriageReturn => "CR", _ => "NUL" });
                    input.AdvanceTo(position);
                    _abortBackend = true;
                    await CloseBackendAsync();
                    scanner.IgnoreBareLineEndings = true;
                    refused = true;
                    continue;
            }

            if (!refused)
            {
                WriteToBackend(buffer.Slice(0, position));
            }

            input.AdvanceTo(position, buffer.End);
            if (result.IsCompleted)
            {
                _end = "client connection lost during DATA";
                _abortBackend = true;
                _sessionOver = true;
                return;
            }

            if (!refused)
            {
                await FlushBackendAsync();
            }
        }
    }

    /// <summary>
    /// BDAT (RFC 3030): the chunk is exactly the announced number of octets and is relayed as such, never scanned for
    /// lines. To a backend without CHUNKING nothing is relayed: the chunk is read and dropped, keeping the session in step.
    /// </summary>
    private async ValueTask BdatAsync(SmtpCommand command, bool moreBuffered)
    {
        if (command.IsMalformedBdat)
        {
            // Without a size there is no telling where the chunk ends: the rest of the input cannot be trusted.
            await LocalReplyAsync(ProxyReplies.BdatSyntax);
            _end = "malformed BDAT";
            _sessionOver = true;
            return;
        }

        if (!_backendChunking)
        {
            await DrainAsync();
            if (await RelayChunkAsync(command.BdatChunkSize, forward: false))
            {
                await LocalReplyAsync(ProxyReplies.BdatUnavailable);
            }

            return;
        }

        _inTransaction = true;
        if (!await RelayChunkAsync(command.BdatChunkSize, forward: true))
        {
            return;
        }

        if (command.BdatLast)
        {
            await SendAndDrainAsync(ReplyFor.EndOfMessage);
        }
        else
        {
            await SendAsync(ReplyFor.BdatChunk, SmtpVerb.Bdat);
        }
    }

    /// <summary>Moves exactly <paramref name="size"/> octets from the client; false when the client went away mid-chunk.</summary>
    private async ValueTask<bool> RelayChunkAsync(long size, bool forward)
    {
        var input = _client.Input;
        var remaining = size;
        while (remaining > 0)
        {
            var result = await ReadClientAsync(_options.Timeouts.Data);
            if (result.IsCanceled)
            {
                continue;
            }

            var chunk = BdatChunk.Take(result.Buffer, ref remaining);
            if (forward)
            {
                WriteToBackend(chunk);
            }

            input.AdvanceTo(chunk.End);
            if (remaining == 0)
            {
                break;
            }

            if (result.IsCompleted)
            {
                _end = "client connection lost during BDAT";
                _abortBackend = true;
                _sessionOver = true;
                return false;
            }

            if (forward)
            {
                await FlushBackendAsync();
            }
        }

        return true;
    }

    /// <summary>
    /// AUTH passes through (RFC 4954): the backend's 334 challenges go to the client and the client's answers go back
    /// as lines, never parsed as commands and never logged.
    /// </summary>
    private async ValueTask AuthAsync()
    {
        await SendAndDrainAsync(ReplyFor.Other);
        var input = _client.Input;
        while (_lastReplyCode == 334)
        {
            var result = await ReadClientAsync(_options.Timeouts.Command);
            if (result.IsCanceled)
            {
                continue;
            }

            var buffer = result.Buffer;
            var reader = new SequenceReader<byte>(buffer);
            var status = SmtpLineReader.TryReadLine(ref reader, _options.Limits.MaxAuthLineLength, out var line);
            switch (status)
            {
                case LineReadStatus.Complete:
                    WriteToBackend(buffer.Slice(line.Start, reader.Position));
                    input.AdvanceTo(reader.Position);
                    break;
                case LineReadStatus.Incomplete when !result.IsCompleted:
                    input.AdvanceTo(buffer.Start, buffer.End);
                    continue;
                case LineReadStatus.Incomplete:
                    input.AdvanceTo(buffer.End);
                    _end = "client closed during AUTH";
                    _sessionOver = true;
                    return;
                default:
                    // An answer we will not relay: cancel the exchange (RFC 4954 §4) and let the backend say so.
                    input.AdvanceTo(status == LineReadStatus.TooLong ? buffer.Start : reader.Position);
                    if (status == LineReadStatus.TooLong && !await SkipLineAsync())
                    {
                        return;
                    }

                    _backend!.Output.Write(SaslCancel);
                    break;
            }

            await SendAndDrainAsync(ReplyFor.Other);
        }

        _authenticated |= _lastReplyCode == 235;
    }
}
