using System.Buffers;
using System.Net;

namespace EarlyPipeProxy.Protocol.ClientIdentity;

/// <summary>
/// HAProxy PROXY protocol headers (proxy-protocol.txt): sent once, before any SMTP byte, on a new backend connection.
/// IPv4-mapped IPv6 addresses are written as IPv4; if source and destination families still differ, the
/// destination is mapped to the source's family.
/// </summary>
public static class ProxyProtocolHeader
{
    /// <summary>Writes "PROXY TCP4|TCP6 src dst sport dport\r\n" (at most 107 octets).</summary>
    public static void WriteV1(IBufferWriter<byte> writer, IPEndPoint source, IPEndPoint destination) => throw new NotImplementedException();

    /// <summary>Writes the 16-octet v2 preamble (signature, 0x21 PROXY, 0x11 TCP4 or 0x21 TCP6, length) and the address block.</summary>
    public static void WriteV2(IBufferWriter<byte> writer, IPEndPoint source, IPEndPoint destination) => throw new NotImplementedException();
}
