using System.Net;

namespace EarlyPipeProxy.Sessions.Configuration;

/// <summary>
/// Where this proxy listens, every listener of both directions: an outbound connection whose original destination is
/// one of them would be relayed to the proxy itself, again and again (a mail loop through a REDIRECT rule that also
/// catches the proxy's own listeners).
/// </summary>
public sealed class OwnListeners(IEnumerable<IPEndPoint> listening)
{
    private readonly IPEndPoint[] _listening = [.. listening];

    /// <summary>True when a connection to <paramref name="destination"/> would reach one of this proxy's listeners.</summary>
    public bool Contains(IPEndPoint destination)
    {
        ArgumentNullException.ThrowIfNull(destination);
        var address = destination.Address.IsIPv4MappedToIPv6 ? destination.Address.MapToIPv4() : destination.Address;
        foreach (var listen in _listening)
        {
            if (listen.Port != destination.Port)
            {
                continue;
            }

            // A wildcard listener answers on every local address; a specific one only on its own.
            if (listen.Address.Equals(IPAddress.Any) || listen.Address.Equals(IPAddress.IPv6Any) || listen.Address.Equals(address)
                || (IPAddress.IsLoopback(listen.Address) && IPAddress.IsLoopback(address)))
            {
                return true;
            }
        }

        return false;
    }
}
