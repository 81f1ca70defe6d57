namespace EarlyPipeProxy.Sessions.Configuration;

/// <summary>
/// The process's client-name lookups (XCLIENT NAME=/REVERSE_NAME=), shared by every inbound listener: how many run at
/// once, each on a thread of its own, and how many may wait for one. How long a session waits for its answer is the
/// listener's Timeouts:ClientNameLookup.
/// </summary>
public sealed class ClientNameLookupOptions
{
    /// <summary>
    /// Dedicated threads calling the C library (started when needed, ended after a minute idle). A stalled resolver
    /// holds each for resolv.conf's full timeout, so this is the most lookups that can be stuck at once.
    /// </summary>
    public int Threads { get; set; } = 16;

    /// <summary>Lookups waiting for a thread; beyond this a session's names are [TEMPUNAVAIL] at once.</summary>
    public int MaxQueued { get; set; } = 256;
}
