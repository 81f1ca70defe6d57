using System.Buffers;
using System.IO.Pipelines;
using EarlyPipeProxy.Protocol.Replies;
using EarlyPipeProxy.Sessions.Backend;

namespace EarlyPipeProxy.Sessions.Inbound;

// Moving bytes: reads and flushes with their deadlines, final words, closing.
public sealed partial class InboundSession
{
    /// <summary>
    /// Reads client input. Before it blocks, everything owed to the client goes out: pending backend replies are
    /// collected and relayed, and the client's output is flushed; so replies leave in as few segments as possible
    /// and nobody waits for the other.
    /// </summary>
    private async ValueTask<ReadResult> ReadClientAsync(TimeSpan timeout)
    {
        var input = _client.Input;
        if (input.TryRead(out var ready))
        {
            return ready;
        }

        await DrainAsync();
        await FlushClientAsync();
        // The client now waits for what it was sent, or sends what it has: one round trip either way.
        _roundTrips.Waited();
        try
        {
            return await input.ReadAsync(Deadline(timeout));
        }
        finally
        {
            ClearDeadline();
        }
    }

    /// <summary>Hands buffered bytes to the backend; a backend that stops reading counts as gone after the reply timeout.</summary>
    private async ValueTask FlushBackendAsync()
    {
        try
        {
            await _backend!.FlushAsync(Deadline(_options.Timeouts.BackendReply));
        }
        catch (OperationCanceledException) when (!_aborted.IsCancellationRequested)
        {
            throw new BackendUnavailableException(BackendFailure.Timeout, $"backend did not take data within {_options.Timeouts.BackendReply}");
        }
        finally
        {
            ClearDeadline();
        }
    }

    private async ValueTask<SmtpReply> ReadBackendReplyAsync(TimeSpan timeout)
    {
        try
        {
            return await _backend!.ReadReplyAsync(_options.Limits.MaxReplyLineLength, Deadline(timeout));
        }
        catch (OperationCanceledException) when (!_aborted.IsCancellationRequested)
        {
            throw new BackendUnavailableException(BackendFailure.Timeout, $"no reply from backend within {timeout}");
        }
        finally
        {
            ClearDeadline();
        }
    }

    private async ValueTask FlushClientAsync()
    {
        if (!_clientUnflushed)
        {
            return;
        }

        _clientUnflushed = false;
        FlushResult result;
        try
        {
            // A client that stops reading while we hold replies for it must not hold the session forever.
            result = await _client.Output.FlushAsync(Deadline(_options.Timeouts.Command));
        }
        finally
        {
            ClearDeadline();
        }

        if (result.IsCompleted)
        {
            throw new IOException("client stopped reading");
        }
    }

    /// <summary>Answers every command the backend still owed a reply with 421 and ends the session (RFC 5321 §3.8).</summary>
    private async ValueTask FailPendingAsync(BackendUnavailableException ex)
    {
        LogBackendUnavailable(_logger, _listener.BackendEndPoint, _clientEndPoint.Address, _clientEndPoint.Port, _listener.Name, ex.Message);
        _end = ex.Failure switch
        {
            BackendFailure.TlsFailed => "backend TLS failed",
            BackendFailure.MalformedReply => "backend refused or misbehaved",
            _ => "backend " + ex.Failure.ToString().ToLowerInvariant(),
        };
        _abortBackend = true;
        var replies = Math.Max(1, _awaiting.Count);
        _awaiting.Clear();
        for (var i = 0; i < replies; i++)
        {
            WriteToClient(ProxyReplies.BackendUnavailable);
        }

        await TryFlushFinalAsync();
    }

    private ValueTask TryWriteFinalAsync(ReadOnlySpan<byte> reply)
    {
        WriteToClient(reply);
        return TryFlushFinalAsync();
    }

    private ValueTask TryFlushFinalAsync()
    {
        _clientUnflushed = false;
        return Transport.FinalFlush.TryAsync(_client.Output);
    }

    private async ValueTask CloseBackendAsync()
    {
        if (_backend is null)
        {
            return;
        }

        if (_abortBackend)
        {
            await _backend.AbortAsync();
        }
        else
        {
            await _backend.DisposeAsync();
        }
    }

    private CancellationToken Deadline(TimeSpan timeout)
    {
        _deadline.CancelAfter(timeout);
        return _deadline.Token;
    }

    private void ClearDeadline() => _deadline.CancelAfter(Timeout.InfiniteTimeSpan);

    private void WriteToClient(ReadOnlySpan<byte> bytes)
    {
        CountReply(ReplyCode.Peek(bytes));
        _client.Output.Write(bytes);
        _bytesToClient += bytes.Length;
        _clientUnflushed = true;
    }

    private void WriteToClient(in ReadOnlySequence<byte> bytes)
    {
        CountReply(ReplyCode.Peek(bytes));
        Write(_client.Output, bytes);
        _bytesToClient += bytes.Length;
        _clientUnflushed = true;
    }

    private void CountReply(int code)
    {
        _roundTrips.Replied(code);
        if (code > 0)
        {
            _metrics?.Reply(_listener.Name, Telemetry.Direction.Inbound, code);
        }
    }

    private void WriteToBackend(in ReadOnlySequence<byte> bytes)
    {
        Write(_backend!.Output, bytes);
        _bytesFromClient += bytes.Length;
    }

    private static void Write(PipeWriter writer, in ReadOnlySequence<byte> bytes)
    {
        foreach (var segment in bytes)
        {
            writer.Write(segment.Span);
        }
    }

    private static void WriteAscii(PipeWriter writer, string text)
    {
        var span = writer.GetSpan(text.Length);
        var written = System.Text.Encoding.ASCII.GetBytes(text, span);
        writer.Advance(written);
    }
}
