namespace EarlyPipeProxy.Sessions.Outbound;

/// <summary>
/// A command whose reply is still to come. <see cref="Line"/> (with CRLF) is kept only while the command waits for a
/// connection, so the early flight, or its lockstep redo, can send it.
/// </summary>
public readonly record struct PendingReply(PendingReplyKind Kind, byte[]? Line)
{
    /// <summary>Whether the sender is waiting for this reply (it was not answered locally).</summary>
    public bool IsOwed => Kind != PendingReplyKind.AcknowledgedMail;
}
