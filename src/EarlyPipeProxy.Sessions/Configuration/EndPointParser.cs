using System.Net;

namespace EarlyPipeProxy.Sessions.Configuration;

/// <summary>Parses "address:port" and "[v6]:port" from configuration; host names are resolved once at start-up.</summary>
public static class EndPointParser
{
    public static IPEndPoint Parse(string text, string what)
    {
        if (IPEndPoint.TryParse(text, out var endPoint) && endPoint.Port != 0)
        {
            return endPoint;
        }

        var colon = text.LastIndexOf(':');
        if (colon > 0 && int.TryParse(text.AsSpan(colon + 1), out var port) && port is > 0 and <= 65535)
        {
            var addresses = Dns.GetHostAddresses(text[..colon].Trim('[', ']'));
            if (addresses.Length > 0)
            {
                return new IPEndPoint(addresses[0], port);
            }
        }

        throw new FormatException($"{what} '{text}' is not address:port.");
    }

    /// <summary>The host of "host:port" or "[v6]:port", without brackets.</summary>
    public static string HostPart(string address)
    {
        var colon = address.LastIndexOf(':');
        return (colon > 0 && !address.EndsWith(']') ? address[..colon] : address).Trim('[', ']');
    }
}
