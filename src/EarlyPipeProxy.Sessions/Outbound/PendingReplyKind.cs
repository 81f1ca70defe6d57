namespace EarlyPipeProxy.Sessions.Outbound;

/// <summary>What a command sent to the remote is waiting for, and what its reply means for the sender.</summary>
public enum PendingReplyKind
{
    /// <summary>MAIL already answered 250 locally: the reply goes nowhere, but a refusal answers the RCPTs that follow.</summary>
    AcknowledgedMail,

    /// <summary>MAIL sent in lockstep: the reply goes to the sender.</summary>
    Mail,

    /// <summary>RCPT: the remote's reply, or the refused MAIL's, goes to the sender.</summary>
    Recipient,

    /// <summary>RSET: the reply goes to the sender and a 250 ends the transaction.</summary>
    Reset,

    /// <summary>AUTH or a SASL response: relayed; a 334 means the sender's next line is another SASL response.</summary>
    Auth,

    /// <summary>Anything else (NOOP, VRFY, HELP, DATA refused for lack of recipients): relayed as it is.</summary>
    Other,
}
