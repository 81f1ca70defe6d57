namespace EarlyPipeProxy.EndToEnd.Tests.Infrastructure;

/// <summary>One message of a lockstep session: its ids, the reply that decided it, and the body it carried.</summary>
public sealed record LockstepMessageReport
{
    /// <summary>"PREFIX-connection-message".</summary>
    public string Id { get; init; } = "";

    /// <summary>"&lt;id@lockstep.test&gt;"; Exim logs it as id=... on its "&lt;=" line.</summary>
    public string MessageId { get; init; } = "";

    /// <summary>The end-of-data reply, or the refusal of MAIL or DATA; null when every RCPT was refused.</summary>
    public int? Code { get; init; }

    public string? Reply { get; init; }

    /// <summary>250 after end-of-data.</summary>
    public bool Delivered { get; init; }

    /// <summary>The unstuffed body as sent, CRLF line ends.</summary>
    public string Body { get; init; } = "";

    /// <summary>What Exim logs in id= and a maildir search can look for: the Message-ID without angle brackets.</summary>
    public string MessageIdBare => MessageId.Trim('<', '>');
}
