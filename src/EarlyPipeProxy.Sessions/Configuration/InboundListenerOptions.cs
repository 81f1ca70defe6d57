namespace EarlyPipeProxy.Sessions.Configuration;

/// <summary>One inbound listener: where clients connect, the backend it fronts, and its limits. Bound from config "Inbound:N".</summary>
public sealed class InboundListenerOptions
{
    /// <summary>
    /// A pending Fast Open connection lives one round trip; 128 of them is over a thousand SYN-data connections a second
    /// at 100 ms, while a flood of forged ones (each needs a cookie issued to its source address) stays bounded.
    /// </summary>
    public const int DefaultFastOpenQueueLength = 128;

    /// <summary>Short name used in logs and metrics.</summary>
    public string Name { get; set; } = "smtp";

    /// <summary>address:port to listen on ([::]:25 for all addresses).</summary>
    public string Listen { get; set; } = "127.0.0.1:2025";

    /// <summary>
    /// Also take connections a TPROXY rule diverts to <see cref="Listen"/> (IP_TRANSPARENT on the listening socket,
    /// CAP_NET_ADMIN): clients keep connecting to the backend's own address while the proxy sits in the path. Each
    /// connection still goes to <see cref="BackendOptions.Address"/>. Read at start only.
    /// </summary>
    public bool Transparent { get; set; }

    /// <summary>
    /// TCP Fast Open on the listening socket (TCP_FASTOPEN, Linux): a client holding the kernel's cookie sends its early
    /// flight in the SYN and is answered without waiting for the handshake to complete. Takes effect only where the
    /// kernel's net.ipv4.tcp_fastopen has the server bit (0x2); the proxy says at start when it has not. Read at start only.
    /// </summary>
    public bool FastOpen { get; set; } = true;

    /// <summary>
    /// With <see cref="FastOpen"/>: how many connections whose SYN carried data the kernel holds before their handshake
    /// completes (the option's value; the kernel caps it at net.core.somaxconn). Past it a SYN's data is not taken and the
    /// client sends it again after the handshake: nothing is lost, one round trip is. Read at start only.
    /// </summary>
    public int FastOpenQueueLength { get; set; } = DefaultFastOpenQueueLength;

    /// <summary>Our name in the EHLO we send before XCLIENT and in replies the proxy writes itself.</summary>
    public string HostName { get; set; } = "earlypipe.localdomain";

    public BackendOptions Backend { get; set; } = new();

    /// <summary>Certificate for STARTTLS (and for <see cref="ImplicitTls"/>); STARTTLS is offered only when set.</summary>
    public InboundTlsOptions Tls { get; set; } = new();

    /// <summary>TLS-on-connect (port 465 style, RFC 8314): the handshake comes first, then the banner.</summary>
    public bool ImplicitTls { get; set; }

    /// <summary>
    /// Whether AUTH is offered and relayed to a client that has not secured the connection with the proxy. Off by
    /// default: credentials in cleartext are readable on the way to the proxy whatever the link to the backend is
    /// (Postfix's smtpd_tls_auth_only). Turn on only where clients reach the listener over a trusted network.
    /// </summary>
    public bool AllowCleartextAuth { get; set; }

    /// <summary>
    /// The load balancers (addresses and CIDR networks, never "*") whose connections start with a PROXY v1 or v2 header
    /// naming the real client: for a connection from one of them the header is read before anything else, and the
    /// address it carries is the client for everything after (advertise hosts, per-address limits, XCLIENT or PROXY
    /// toward the backend, logs, trace). From any other address nothing is read as a header. Unset or empty: none.
    /// </summary>
    public string[]? AcceptProxyHeaderFrom { get; set; }

    /// <summary>
    /// Whether a connection from <see cref="AcceptProxyHeaderFrom"/> must start with a PROXY header (closed otherwise).
    /// False: one that sends no header (nothing within a second, or octets that do not start one) is served as a
    /// direct client from the balancer's own address.
    /// </summary>
    public bool RequireProxyHeader { get; set; } = true;

    public PipeConnectOptions PipeConnect { get; set; } = new();

    public ListenerLimits Limits { get; set; } = new();

    public SessionTimeouts Timeouts { get; set; } = new();

    /// <summary>Peers whose sessions are traced command by command (read at each session's start).</summary>
    public TraceOptions Trace { get; set; } = new();
}
