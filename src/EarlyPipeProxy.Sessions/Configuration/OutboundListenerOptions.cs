namespace EarlyPipeProxy.Sessions.Configuration;

/// <summary>
/// One outbound listener (an entry of the "Outbound" configuration array): where legacy senders connect, and where
/// their mail goes from there.
/// </summary>
public sealed class OutboundListenerOptions
{
    /// <summary>Names the listener in logs.</summary>
    public string Name { get; set; } = "outbound";

    /// <summary>"address:port" the legacy senders connect to.</summary>
    public string Listen { get; set; } = "127.0.0.1:2525";

    /// <summary>
    /// "host:port" of the server every connection is relayed to (a smarthost). Unset together with
    /// <see cref="UseOriginalDestination"/>: each connection goes where the sender meant it to go before iptables
    /// redirected it to this listener.
    /// </summary>
    public string? Upstream { get; set; }

    /// <summary>Relay each connection to its original destination (Linux SO_ORIGINAL_DST after an iptables REDIRECT).</summary>
    public bool UseOriginalDestination { get; set; }

    /// <summary>
    /// Addresses and CIDR blocks of the senders this listener relays for; unset: any that can reach it. A sidecar
    /// listens where only its own senders can connect, but a listener on a shared address needs this.
    /// </summary>
    public string[]? AllowedSenders { get; set; }

    /// <summary>Our name in the banner we give a sender when the remote's banner is not awaited.</summary>
    public string HostName { get; set; } = "localhost";

    /// <summary>The EHLO name toward the remote; unset: the sender's own EHLO/HELO name, so the proxy stays invisible.</summary>
    public string? HeloName { get; set; }

    /// <summary>The local address connections to the remote leave from; unset: the kernel's choice for the route.</summary>
    public string? SourceAddress { get; set; }

    /// <summary>Send early-pipelined flights to remotes whose cached EHLO reply offers it (Exim's hosts_pipe_connect).</summary>
    public bool EarlyPipelining { get; set; } = true;

    /// <summary>Ask for TCP Fast Open on connections to the remote, so an early flight can ride in the SYN where the remote allows.</summary>
    public bool FastOpen { get; set; } = true;

    /// <summary>TLS toward the remote.</summary>
    public OutboundTlsOptions Tls { get; set; } = new();

    /// <summary>TLS toward senders: with a certificate, STARTTLS is offered to them (the remote's hop is unaffected).</summary>
    public InboundTlsOptions SenderTls { get; set; } = new();

    /// <summary>Warm remote connections kept for the next session (RSET, then parked; see <see cref="ConnectionCacheOptions"/>).</summary>
    public ConnectionCacheOptions ConnectionCache { get; set; } = new();

    public ListenerLimits Limits { get; set; } = new();

    public SessionTimeouts Timeouts { get; set; } = new();

    /// <summary>Peers whose sessions are traced command by command (read at each session's start).</summary>
    public TraceOptions Trace { get; set; } = new();
}
