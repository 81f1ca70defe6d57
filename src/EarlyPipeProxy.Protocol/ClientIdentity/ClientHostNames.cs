namespace EarlyPipeProxy.Protocol.ClientIdentity;

/// <summary>
/// What a name lookup of the client found, in the two forms Postfix's restrictions use (smtpd_peer.c):
/// <see cref="Name"/> is the verified name (the PTR name, kept only when it resolves back to the client's address),
/// for reject_unknown_client_hostname; <see cref="ReverseName"/> is the PTR name whether or not it resolves back,
/// for reject_unknown_reverse_client_hostname. Where there is no name, each holds one of Postfix's XCLIENT markers:
/// <see cref="Unavailable"/> (a permanent failure: no PTR, a malformed or numeric PTR name, a name that does not
/// resolve back) or <see cref="TemporarilyUnavailable"/> (the lookup failed for now: Postfix answers 450, not 550).
/// </summary>
public readonly record struct ClientHostNames(string Name, string ReverseName)
{
    public const string Unavailable = "[UNAVAILABLE]";
    public const string TemporarilyUnavailable = "[TEMPUNAVAIL]";

    /// <summary>No name at all, permanently: what Postfix has when its lookup is off or found nothing.</summary>
    public static ClientHostNames None { get; } = new(Unavailable, Unavailable);

    /// <summary>The lookup could not finish (timed out, the resolver failed for now, or no room to ask).</summary>
    public static ClientHostNames LookupFailedForNow { get; } = new(TemporarilyUnavailable, TemporarilyUnavailable);

    /// <summary>A PTR name that resolves back to the client: both forms are that name.</summary>
    public static ClientHostNames Verified(string name) => new(name, name);

    /// <summary>A PTR name whose forward lookup did not give the client's address back (permanently or for now).</summary>
    public static ClientHostNames Unverified(string reverseName, bool failedForNow) =>
        new(failedForNow ? TemporarilyUnavailable : Unavailable, reverseName);

    /// <summary>True for the two markers, which stand for "no name" and are not host names.</summary>
    public static bool IsMarker(string value) =>
        string.Equals(value, Unavailable, StringComparison.OrdinalIgnoreCase)
        || string.Equals(value, TemporarilyUnavailable, StringComparison.OrdinalIgnoreCase);
}
