namespace EarlyPipeProxy.Protocol.ClientIdentity;

/// <summary>What the first octets of a connection from a load balancer are (<see cref="ProxyProtocolHeaderParser"/>).</summary>
public enum ProxyHeaderStatus
{
    /// <summary>So far they could still be a header: read more.</summary>
    Incomplete,

    /// <summary>They do not start like a PROXY v1 or v2 header (an SMTP client's own bytes, for instance).</summary>
    NotAHeader,

    /// <summary>A header that breaks the protocol's rules or the proxy's bounds: the connection is closed.</summary>
    Invalid,

    /// <summary>A header carrying the client's address and port and the address and port it connected to.</summary>
    Proxied,

    /// <summary>
    /// A header that carries no client: v2's LOCAL command (the balancer's own health check) or v1's UNKNOWN. The
    /// connection is the balancer's own, served as coming from its address.
    /// </summary>
    Local,
}
