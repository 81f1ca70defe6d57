namespace EarlyPipeProxy.EndToEnd.Tests.Infrastructure;

/// <summary>
/// One address family of <see cref="TransparentNetwork"/>: the client, the proxy's two sides and the backend. Private
/// ranges that exist only inside the test's namespaces (RFC 2544 for IPv4, a ULA for IPv6).
/// </summary>
public sealed record TransparentAddresses(string Family, string Client, string ProxyClientSide, string ProxyBackendSide, string Backend, int PrefixLength)
{
    public static TransparentAddresses V4 { get; } = new("IPv4", "198.19.1.2", "198.19.1.1", "198.19.2.1", "198.19.2.2", 24);

    public static TransparentAddresses V6 { get; } = new("IPv6", "fd65:7070:1::2", "fd65:7070:1::1", "fd65:7070:2::1", "fd65:7070:2::2", 64);

    public bool IsV6 => Family == "IPv6";

    public static TransparentAddresses Of(string family) => family == "IPv6" ? V6 : V4;

    /// <summary>The host part of host:port ("[fd65:7070:1::1]" for IPv6).</summary>
    public string Host(string address) => IsV6 ? $"[{address}]" : address;

    /// <summary>How Postfix writes an address in a Received: header ("IPv6:fd65:7070:1::2"; its log has it bare).</summary>
    public string InReceivedHeader(string address) => IsV6 ? "IPv6:" + address : address;
}
