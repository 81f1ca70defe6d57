using System.Buffers;
using System.Net;

namespace EarlyPipeProxy.Protocol.ClientIdentity;

/// <summary>
/// Postfix XCLIENT (XCLIENT_README): tells the backend who the real client is. Values are xtext-encoded (RFC 3461 §4);
/// IPv6 addresses are written "IPV6:addr"; IPv4-mapped IPv6 addresses are written as IPv4.
/// </summary>
public static class XclientCommand
{
    /// <summary>Writes "XCLIENT ADDR=… PORT=…[ NAME=…][ HELO=…]\r\n". <paramref name="name"/> and <paramref name="helo"/> are omitted when null.</summary>
    public static void Write(IBufferWriter<byte> writer, IPEndPoint client, string? name, string? helo) => throw new NotImplementedException();
}
