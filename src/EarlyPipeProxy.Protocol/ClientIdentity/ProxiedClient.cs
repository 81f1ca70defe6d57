using System.Net;

namespace EarlyPipeProxy.Protocol.ClientIdentity;

/// <summary>
/// The client as the backend should see it, as if it had connected there directly: its address and port, the address
/// and port it connected to (the proxy's listening end, Postfix's DESTADDR/DESTPORT), and its host names.
/// </summary>
public sealed record ProxiedClient(IPEndPoint Client, IPEndPoint? Destination, ClientHostNames Names);
