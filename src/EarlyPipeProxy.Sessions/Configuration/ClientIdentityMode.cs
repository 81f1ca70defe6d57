namespace EarlyPipeProxy.Sessions.Configuration;

/// <summary>How the backend learns the real client's address. Without one it sees only the proxy and may relay for everybody.</summary>
public enum ClientIdentityMode
{
    /// <summary>Nothing is sent: only for backends that trust nobody by address (documented as unsafe for relaying MTAs).</summary>
    None,

    /// <summary>Postfix XCLIENT after the backend's greeting (smtpd_authorized_xclient_hosts).</summary>
    Xclient,

    /// <summary>HAProxy PROXY protocol v1 text header before any SMTP byte.</summary>
    ProxyV1,

    /// <summary>HAProxy PROXY protocol v2 binary header before any SMTP byte (Postfix ≥ 3.5, Exim hosts_proxy).</summary>
    ProxyV2,

    /// <summary>
    /// Nothing is sent: the backend connection is made from the client's own address (IP_TRANSPARENT, CAP_NET_ADMIN),
    /// so a backend that takes neither XCLIENT nor PROXY (Exchange, appliances) sees the client itself. Its replies
    /// must be routed back through the proxy (README, "Transparent mode").
    /// </summary>
    Transparent,
}
