using System.Buffers;
using System.Net;
using System.Net.Sockets;

namespace EarlyPipeProxy.Protocol.ClientIdentity;

/// <summary>Address normalisation and text form shared by the XCLIENT and PROXY writers.</summary>
internal static class IPAddressFormatting
{
    // The longest IPv6 text form (with an embedded IPv4 and a scope id) is well under this.
    private const int MaxAddressText = 64;

    /// <summary>IPv4-mapped IPv6 (::ffff:a.b.c.d, what a dual-stack socket reports) becomes plain IPv4.</summary>
    public static IPAddress Normalize(IPAddress address)
        => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;

    /// <summary>Writes the address's text form without a scope id ("%eth0" means nothing to the server behind us).</summary>
    public static void WriteText(IBufferWriter<byte> writer, IPAddress address)
    {
        Span<byte> text = stackalloc byte[MaxAddressText];
        if (!address.TryFormat(text, out var written))
        {
            throw new ArgumentException("The address cannot be formatted.", nameof(address));
        }

        text = text[..written];
        if (address.AddressFamily == AddressFamily.InterNetworkV6)
        {
            var scope = text.IndexOf((byte)'%');
            if (scope >= 0)
            {
                text = text[..scope];
            }
        }

        writer.Write(text);
    }

    public static void WriteDecimal(IBufferWriter<byte> writer, int value)
    {
        var digits = writer.GetSpan(11);
        if (!value.TryFormat(digits, out var written, default, System.Globalization.CultureInfo.InvariantCulture))
        {
            throw new InvalidOperationException("The buffer writer returned a span shorter than requested.");
        }

        writer.Advance(written);
    }
}
