using System.Net;

namespace EarlyPipeProxy.Sessions.Inbound;

/// <summary>
/// A connection from a load balancer once its PROXY header was read: who the session serves (the client the header
/// named, or the balancer itself) and where that client connected.
/// </summary>
/// <param name="Client">The client for everything after: advertise hosts, per-address limits, XCLIENT or PROXY, logs, trace.</param>
/// <param name="Local">Where the client connected (the balancer's front end; XCLIENT's DESTADDR, PROXY's destination).</param>
/// <param name="Outcome">One of <see cref="ProxyHeaderOutcome"/>'s accepting labels: proxied, local or direct.</param>
public sealed record ProxyHeaderReception(IPEndPoint Client, IPEndPoint Local, string Outcome);
