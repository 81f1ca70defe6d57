using System.Diagnostics.CodeAnalysis;
using System.Net;

namespace EarlyPipeProxy.Sessions.EhloCache;

/// <summary>
/// "HOST" or "HOST:PORT" for the cache CLI, HOST being an IP address ("[v6]:port" with a port). Names are resolved by
/// the caller: the cache knows addresses only.
/// </summary>
public readonly record struct EhloCacheHostFilter(IPAddress Address, int? Port)
{
    public static EhloCacheHostFilter Parse(string text) =>
        TryParse(text, out var filter) ? filter.Value : throw new FormatException($"'{text}' is not an IP address or address:port.");

    public static bool TryParse(string? text, [NotNullWhen(true)] out EhloCacheHostFilter? filter)
    {
        filter = null;
        text = text?.Trim();
        if (string.IsNullOrEmpty(text))
        {
            return false;
        }

        // "[v6]" and "[v6]:port" are bracketed; otherwise one colon is "v4:port" and more are a bare IPv6 address
        // ("2001:db8::25" must not be read as "2001:db8:" port 25).
        var colons = text.Count(c => c == ':');
        if (text.StartsWith('[') && text.EndsWith(']'))
        {
            if (IPAddress.TryParse(text[1..^1], out var bracketed))
            {
                filter = new EhloCacheHostFilter(Normalize(bracketed), null);
                return true;
            }
        }
        else if (!text.StartsWith('[') && colons != 1)
        {
            if (IPAddress.TryParse(text, out var bare))
            {
                filter = new EhloCacheHostFilter(Normalize(bare), null);
                return true;
            }
        }
        else if (IPEndPoint.TryParse(text, out var endPoint) && endPoint.Port > 0)
        {
            filter = new EhloCacheHostFilter(Normalize(endPoint.Address), endPoint.Port);
            return true;
        }

        return false;
    }

    public bool Matches(EhloCacheKey key) =>
        key.RemoteAddress.Equals(Address) && (Port is null || Port == key.RemotePort);

    public override string ToString() => Port is null ? Address.ToString() : new IPEndPoint(Address, Port.Value).ToString();

    private static IPAddress Normalize(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
}
