using System.Net;

namespace EarlyPipeProxy.Sessions.Configuration;

/// <summary>
/// A host list in the spirit of Exim's: "*" matches everyone, otherwise addresses and CIDR networks.
/// IPv4-mapped IPv6 client addresses match IPv4 entries, because a dual-stack listener reports IPv4 clients that way.
/// </summary>
public sealed class AddressList
{
    private readonly IPNetwork[] _networks;
    private readonly bool _matchesAll;

    private AddressList(IPNetwork[] networks, bool matchesAll)
    {
        _networks = networks;
        _matchesAll = matchesAll;
    }

    public static AddressList Parse(IEnumerable<string> entries)
    {
        var networks = new List<IPNetwork>();
        var all = false;
        foreach (var raw in entries)
        {
            var entry = raw.Trim();
            if (entry.Length == 0 || entry == ":")
            {
                continue;
            }

            if (entry == "*")
            {
                all = true;
            }
            else if (IPNetwork.TryParse(entry, out var network))
            {
                networks.Add(network);
            }
            else if (IPAddress.TryParse(entry, out var address))
            {
                networks.Add(new IPNetwork(address, address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128));
            }
            else
            {
                throw new FormatException($"'{entry}' is not '*', an IP address or a CIDR network.");
            }
        }

        return new AddressList([.. networks], all);
    }

    public bool Contains(IPAddress address)
    {
        if (_matchesAll)
        {
            return true;
        }

        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        foreach (var network in _networks)
        {
            if (network.Contains(address))
            {
                return true;
            }
        }

        return false;
    }
}
