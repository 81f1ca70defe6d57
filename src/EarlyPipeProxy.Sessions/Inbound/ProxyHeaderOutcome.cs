namespace EarlyPipeProxy.Sessions.Inbound;

/// <summary>The "result" label of earlypipe.proxy_headers: what became of a connection from a listed load balancer,
/// and of a header from anyone else.</summary>
public static class ProxyHeaderOutcome
{
    /// <summary>A header named the client: the session is that client's.</summary>
    public const string Proxied = "proxied";

    /// <summary>v2 LOCAL or v1 UNKNOWN: the balancer's own connection (a health check), served as its address.</summary>
    public const string Local = "local";

    /// <summary>No header where none is required (RequireProxyHeader false): served as a direct client.</summary>
    public const string Direct = "direct";

    /// <summary>The header broke the protocol or the bounds: closed.</summary>
    public const string Malformed = "malformed";

    /// <summary>Octets that do not start a header where one is required: closed.</summary>
    public const string Missing = "missing";

    /// <summary>The header was not complete within Timeouts:ProxyHeader: closed.</summary>
    public const string Timeout = "timeout";

    /// <summary>The balancer closed before its header was complete.</summary>
    public const string Closed = "closed";

    /// <summary>A header from an address not in AcceptProxyHeaderFrom (or a second one behind a balancer's): closed.</summary>
    public const string Unlisted = "unlisted";
}
