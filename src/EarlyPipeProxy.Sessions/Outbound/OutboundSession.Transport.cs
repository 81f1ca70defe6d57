using System.Buffers;
using System.IO.Pipelines;
using EarlyPipeProxy.Sessions.Backend;

namespace EarlyPipeProxy.Sessions.Outbound;

// The sender's side: reads with deadlines, replies in order, final words.
public sealed partial class OutboundSession
{
    /// <summary>
    /// Reads sender input. Before it blocks, what the sender is owed goes out: replies still due from the remote are
    /// collected, and the sender's output is flushed. A MAIL acknowledged here is not due and stays unsent, so it can
    /// travel with the sender's next command. When those replies end the session (the remote's 421), the read returns
    /// at once, cancelled, and the caller sees <see cref="_sessionOver"/>.
    /// </summary>
    private async ValueTask<ReadResult> ReadSenderAsync(TimeSpan timeout)
    {
        var input = _sender.Input;
        if (input.TryRead(out var ready))
        {
            return ready;
        }

        await DrainAsync();
        await FlushSenderAsync();
        if (_sessionOver)
        {
            // Waiting for the sender's next command would keep it on a session the remote has already closed.
            input.CancelPendingRead();
        }

        try
        {
            return await input.ReadAsync(Deadline(timeout));
        }
        finally
        {
            ClearDeadline();
        }
    }

    /// <summary>A reply of our own, in its place: everything the remote still owes the sender goes first.</summary>
    private ValueTask LocalReplyAsync(ReadOnlySpan<byte> reply)
    {
        if (_owed == 0)
        {
            WriteToSender(reply);
            return ValueTask.CompletedTask;
        }

        return DrainThenReplyAsync(reply.ToArray());
    }

    private async ValueTask DrainThenReplyAsync(byte[] reply)
    {
        await DrainAsync();
        WriteToSender(reply);
    }

    private void WriteToSender(ReadOnlySpan<byte> bytes)
    {
        if (_metrics is not null && Protocol.Replies.ReplyCode.Peek(bytes) is > 0 and var code)
        {
            _metrics.Reply(_listener.Name, Telemetry.Direction.Outbound, code);
        }

        _sender.Output.Write(bytes);
        _bytesToSender += bytes.Length;
        _senderUnflushed = true;
    }

    private async ValueTask FlushSenderAsync()
    {
        if (!_senderUnflushed)
        {
            return;
        }

        _senderUnflushed = false;
        FlushResult result;
        try
        {
            result = await _sender.Output.FlushAsync(Deadline(_options.Timeouts.Command));
        }
        finally
        {
            ClearDeadline();
        }

        if (result.IsCompleted)
        {
            throw new IOException("sender stopped reading");
        }
    }

    /// <summary>The remote failed: every answer the sender waits for is a 421, and the session ends (RFC 5321 §3.8).</summary>
    private async ValueTask FailOwedAsync(BackendUnavailableException ex)
    {
        LogRemoteUnavailable(_logger, _remoteEndPoint, _senderEndPoint.Address, _senderEndPoint.Port, _listener.Name, ex.Message);
        _end = "remote " + ex.Failure.ToString().ToLowerInvariant();
        _abortRemote = true;
        for (var owed = Math.Max(1, _owed); owed > 0; owed--)
        {
            WriteToSender(OutboundReplies.RemoteUnavailable);
        }

        _pending.Clear();
        _owed = 0;
        await TryFlushFinalAsync();
    }

    private ValueTask TryFlushFinalAsync()
    {
        _senderUnflushed = false;
        return Transport.FinalFlush.TryAsync(_sender.Output);
    }

    private CancellationToken Deadline(TimeSpan timeout)
    {
        _deadline.CancelAfter(timeout);
        return _deadline.Token;
    }

    private void ClearDeadline() => _deadline.CancelAfter(Timeout.InfiniteTimeSpan);
}
