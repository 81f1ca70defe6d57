using System.Net;

namespace EarlyPipeProxy.Protocol.ClientIdentity;

/// <summary>One reading of a connection's first octets as a PROXY header (<see cref="ProxyProtocolHeaderParser.Parse"/>).</summary>
/// <param name="Status">What the octets are.</param>
/// <param name="Length">The header's octets, to be consumed, when <paramref name="Status"/> is Proxied or Local; 0 otherwise.</param>
/// <param name="Version">1 or 2 once the signature was recognised; 0 before.</param>
/// <param name="Source">The client, when Proxied.</param>
/// <param name="Destination">Where the client connected (the balancer's front end), when Proxied.</param>
/// <param name="Problem">Why an Invalid header is refused: fixed printable text, never the peer's octets.</param>
public readonly record struct ProxyHeader(
    ProxyHeaderStatus Status, int Length, int Version, IPEndPoint? Source, IPEndPoint? Destination, string? Problem)
{
    public static ProxyHeader Incomplete(int version) => new(ProxyHeaderStatus.Incomplete, 0, version, null, null, null);

    public static ProxyHeader NotAHeader { get; } = new(ProxyHeaderStatus.NotAHeader, 0, 0, null, null, null);

    public static ProxyHeader Invalid(int version, string problem) => new(ProxyHeaderStatus.Invalid, 0, version, null, null, problem);

    public static ProxyHeader Local(int version, int length) => new(ProxyHeaderStatus.Local, length, version, null, null, null);

    public static ProxyHeader Proxied(int version, int length, IPEndPoint source, IPEndPoint destination) =>
        new(ProxyHeaderStatus.Proxied, length, version, source, destination, null);
}
