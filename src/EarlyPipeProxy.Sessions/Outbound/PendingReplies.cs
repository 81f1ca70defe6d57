using EarlyPipeProxy.Protocol.Replies;
using EarlyPipeProxy.Sessions.Downstream;
using EarlyPipeProxy.Sessions.Lifetime;
using EarlyPipeProxy.Sessions.Telemetry;
using EarlyPipeProxy.Sessions.Upstream;

namespace EarlyPipeProxy.Sessions.Outbound;

/// <summary>
/// Outbound policy: the commands whose replies are still to come from the remote, and how each reply becomes the
/// sender's answer. A MAIL acknowledged here is pending but not owed (the sender already has its 250); its refusal
/// answers the RCPTs that follow it. What the replies establish about the transaction is kept here, where they are read.
/// </summary>
internal sealed class PendingReplies
{
    private readonly Queue<PendingReply> _queue = new();
    private readonly DownstreamChannel _sender;
    private readonly RemoteLink _remote;
    private readonly SessionRecord _record;

    public PendingReplies(DownstreamChannel sender, RemoteLink remote, SessionRecord record)
    {
        _sender = sender;
        _remote = remote;
        _record = record;
    }

    public int Count => _queue.Count;

    /// <summary>Replies the sender waits for.</summary>
    public int Owed { get; set; }

    /// <summary>A transaction is open: a MAIL accepted (or acknowledged here) and not yet ended.</summary>
    public bool InTransaction { get; set; }

    /// <summary>The transaction's MAIL and RCPTs went in the early flight: their replies are the cache's business too.</summary>
    public bool EarlyTransaction { get; set; }

    /// <summary>The remote's refusal of a MAIL that was acknowledged here: it answers the transaction's RCPTs.</summary>
    public byte[]? MailRefusal { get; private set; }

    public int AcceptedRecipients { get; private set; }

    /// <summary>The code of the reply last processed.</summary>
    public int LastCode { get; private set; }

    /// <summary>
    /// The remote's connection holds no transaction, by its own word: nothing sent yet, or the last MAIL sent was
    /// ended by a 250 to its end of data or to RSET. Only such a connection is parked for another session.
    /// </summary>
    public bool RemoteClean { get; set; } = true;

    /// <summary>The remote said 421: the session ends once its word reached the sender.</summary>
    public bool RemoteClosing { get; private set; }

    /// <summary>Queues a command for the remote: written at once when connected, kept for the first flight otherwise.</summary>
    public void Send(PendingReplyKind kind, byte[] line)
    {
        if (_remote.Channel is { } channel)
        {
            channel.Write(line);
            _queue.Enqueue(new PendingReply(kind, null));
            RemoteClean &= kind is not (PendingReplyKind.Mail or PendingReplyKind.AcknowledgedMail);
        }
        else
        {
            _queue.Enqueue(new PendingReply(kind, line));
        }

        if (kind != PendingReplyKind.AcknowledgedMail)
        {
            Owed++;
        }
    }

    /// <summary>A reply the remote owes to a line already written (a SASL answer), to be relayed like the others.</summary>
    public void Expect(PendingReplyKind kind)
    {
        _queue.Enqueue(new PendingReply(kind, null));
        Owed++;
    }

    /// <summary>Takes every waiting command out, for the early flight to send; none is owed until they are requeued.</summary>
    public PendingReply[] TakeFlight()
    {
        var flight = _queue.ToArray();
        _queue.Clear();
        Owed = 0;
        return flight;
    }

    /// <summary>Puts the flight's commands back in the queue as sent, so their replies are processed in order.</summary>
    public void Requeue(PendingReply[] flight)
    {
        foreach (var command in flight)
        {
            Owed += command.IsOwed ? 1 : 0;
            RemoteClean &= command.Kind is not (PendingReplyKind.Mail or PendingReplyKind.AcknowledgedMail);
            _queue.Enqueue(command with { Line = null });
        }
    }

    /// <summary>Reads the remote's reply to every command sent and processes each, in order (the caller flushed).</summary>
    public async ValueTask CollectAsync(UpstreamChannel channel, TimeSpan timeout)
    {
        while (_queue.Count > 0)
        {
            Process(await channel.ReadReplyCopyAsync(timeout));
            await _sender.FlushIfOverLimitAsync();
        }

        if (!RemoteClosing)
        {
            channel.EnsureNothingUnsolicited();
        }
    }

    /// <summary>Processes replies already read (an early flight's) for the commands at the head of the queue.</summary>
    public void Process(UpstreamReply[] replies)
    {
        // A 421 among them ends the session and answers every command still owed; replies after it (a remote may
        // answer the rest of the flight before it closes) belong to nobody.
        for (var i = 0; i < replies.Length && _queue.Count > 0; i++)
        {
            Process(replies[i]);
        }
    }

    /// <summary>A MAIL acknowledged here that never left: the remote never heard of it, so it is simply dropped.</summary>
    public void ForgetUnsentMail()
    {
        if (_remote.Channel is null && _queue.Count > 0 && Owed == 0)
        {
            _queue.Clear();
            InTransaction = false;
        }
    }

    public void EndTransaction()
    {
        InTransaction = false;
        EarlyTransaction = false;
        MailRefusal = null;
        AcceptedRecipients = 0;
    }

    /// <summary>Every command still owed gets <paramref name="reply"/> (the remote's 421, or ours); nothing more will come.</summary>
    public void AnswerOwedWith(ReadOnlySpan<byte> reply, int atLeast = 0)
    {
        for (var owed = Math.Max(atLeast, Owed); owed > 0; owed--)
        {
            _sender.Write(reply);
        }

        _queue.Clear();
        Owed = 0;
    }

    /// <summary>The remote's reply to the command at the head of the queue, turned into what the sender is told.</summary>
    private void Process(UpstreamReply reply)
    {
        var pending = _queue.Dequeue();
        if (pending.IsOwed)
        {
            Owed--;
        }

        if (EarlyTransaction && pending.Kind is PendingReplyKind.AcknowledgedMail or PendingReplyKind.Mail or PendingReplyKind.Recipient)
        {
            _remote.Cache.OnEarlyTransactionReply(_remote.Key, reply.Code);
        }

        LastCode = reply.Code;
        var positive = reply.IsPositiveCompletion;
        switch (pending.Kind)
        {
            case PendingReplyKind.AcknowledgedMail when !positive:
                MailRefusal = reply.Raw;
                InTransaction = false;
                break;
            case PendingReplyKind.AcknowledgedMail:
                break;
            case PendingReplyKind.Mail:
                InTransaction = positive;
                _sender.Write(reply.Raw);
                break;
            case PendingReplyKind.Recipient when MailRefusal is not null:
                // The remote's RCPT reply is about a transaction that never began (typically 503); the sender
                // learns why from the MAIL refusal, with the remote's own code and text.
                _sender.Write(MailRefusal);
                break;
            case PendingReplyKind.Recipient:
                if (positive)
                {
                    AcceptedRecipients++;
                    _record.Recipients++;
                }

                _sender.Write(reply.Raw);
                break;
            case PendingReplyKind.Reset:
                if (positive)
                {
                    EndTransaction();
                    RemoteClean = true;
                }

                _sender.Write(reply.Raw);
                break;
            default:
                _sender.Write(reply.Raw);
                break;
        }

        if (reply.Code == ReplyCode.ServiceNotAvailable)
        {
            // The remote is closing (RFC 5321 §3.8): whatever else the sender waits for gets the same word.
            AnswerOwedWith(reply.Raw);
            RemoteClosing = true;
            _record.Ended(SessionEnd.UpstreamClosedWith421);
        }
    }
}
