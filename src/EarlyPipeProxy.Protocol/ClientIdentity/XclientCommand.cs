using System.Buffers;
using System.Net;
using System.Net.Sockets;

namespace EarlyPipeProxy.Protocol.ClientIdentity;

/// <summary>
/// Postfix XCLIENT (XCLIENT_README; smtpd.c xclient_cmd): tells the backend who the real client is, with every
/// attribute its restrictions use: ADDR and PORT, NAME (the verified name, for reject_unknown_client_hostname),
/// REVERSE_NAME (the PTR name, for reject_unknown_reverse_client_hostname) and DESTADDR/DESTPORT (where the client
/// connected, for policy servers and milters). Each only when the backend offers it. Never LOGIN: there is no way to
/// ask for it here. Values are xtext-encoded (RFC 3461 §4); addresses are written "IPV6:addr" for IPv6 and as IPv4
/// for IPv4-mapped IPv6.
/// </summary>
public static class XclientCommand
{
    /// <summary>XCLIENT_README note 1: an XCLIENT command must not exceed SMTP's 512-character command line (CRLF included).</summary>
    public const int MaxLineLength = 512;

    /// <summary>The attributes named in the parameters of an EHLO "XCLIENT" line, ASCII case-insensitive; unknown names are ignored.</summary>
    public static XclientAttributes ParseOffer(string? parameters)
    {
        var offered = XclientAttributes.None;
        foreach (var word in (parameters ?? string.Empty).Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            offered |= word.ToUpperInvariant() switch
            {
                "NAME" => XclientAttributes.Name,
                "ADDR" => XclientAttributes.Addr,
                "PORT" => XclientAttributes.Port,
                "REVERSE_NAME" => XclientAttributes.ReverseName,
                "DESTADDR" => XclientAttributes.DestAddr,
                "DESTPORT" => XclientAttributes.DestPort,
                "HELO" => XclientAttributes.Helo,
                "PROTO" => XclientAttributes.Proto,
                "LOGIN" => XclientAttributes.Login,
                _ => XclientAttributes.None,
            };
        }

        return offered;
    }

    /// <summary>
    /// The XCLIENT command lines ("XCLIENT ...\r\n") that introduce <paramref name="client"/> to a backend offering
    /// <paramref name="offered"/>; each is sent on its own, after the 220 that answers the one before. Usually one
    /// line: "XCLIENT ADDR=… PORT=… NAME=… REVERSE_NAME=… DESTADDR=… DESTPORT=…". When that would be longer than
    /// <see cref="MaxLineLength"/> (two names near Postfix's 255-character limit), two lines, as XCLIENT_README
    /// advises: first REVERSE_NAME, DESTADDR and DESTPORT, then ADDR, PORT and NAME. ADDR and NAME go last because
    /// Postfix re-checks smtpd_authorized_xclient_hosts against the new name and address after each command, and the
    /// client's are usually not authorized. REVERSE_NAME may precede NAME: a NAME that is a name also sets the reverse
    /// name, to itself, and a verified name is the PTR name anyway.
    /// </summary>
    /// <remarks>
    /// A name that Postfix would refuse (<see cref="HostNameSyntax"/>) is sent as [UNAVAILABLE], which is also what
    /// Postfix's own lookup makes of it; so a hostile PTR record can neither break the command nor extend it.
    /// </remarks>
    public static IReadOnlyList<byte[]> Build(ProxiedClient client, XclientAttributes offered)
    {
        ArgumentNullException.ThrowIfNull(client);

        var whole = new ArrayBufferWriter<byte>(128);
        WriteLine(whole, client, offered);
        if (whole.WrittenCount <= MaxLineLength)
        {
            return [whole.WrittenSpan.ToArray()];
        }

        const XclientAttributes Last = XclientAttributes.Addr | XclientAttributes.Port | XclientAttributes.Name;
        var first = new ArrayBufferWriter<byte>(MaxLineLength);
        WriteLine(first, client, offered & ~Last);
        var second = new ArrayBufferWriter<byte>(MaxLineLength);
        WriteLine(second, client, offered & Last);

        // Cannot happen: names are at most 255 characters and need no encoding, addresses and ports are short.
        if (first.WrittenCount > MaxLineLength || second.WrittenCount > MaxLineLength)
        {
            throw new InvalidOperationException("An XCLIENT command would exceed 512 characters.");
        }

        return [first.WrittenSpan.ToArray(), second.WrittenSpan.ToArray()];
    }

    private static void WriteLine(ArrayBufferWriter<byte> writer, ProxiedClient client, XclientAttributes attributes)
    {
        writer.Write("XCLIENT"u8);
        if ((attributes & XclientAttributes.Addr) != 0)
        {
            writer.Write(" ADDR="u8);
            WriteAddress(writer, client.Client.Address);
        }

        if ((attributes & XclientAttributes.Port) != 0)
        {
            writer.Write(" PORT="u8);
            IPAddressFormatting.WriteDecimal(writer, client.Client.Port);
        }

        if ((attributes & XclientAttributes.Name) != 0)
        {
            writer.Write(" NAME="u8);
            WriteName(writer, client.Names.Name);
        }

        if ((attributes & XclientAttributes.ReverseName) != 0)
        {
            writer.Write(" REVERSE_NAME="u8);
            WriteName(writer, client.Names.ReverseName);
        }

        if (client.Destination is { } destination)
        {
            if ((attributes & XclientAttributes.DestAddr) != 0)
            {
                writer.Write(" DESTADDR="u8);
                WriteAddress(writer, destination.Address);
            }

            if ((attributes & XclientAttributes.DestPort) != 0)
            {
                writer.Write(" DESTPORT="u8);
                IPAddressFormatting.WriteDecimal(writer, destination.Port);
            }
        }

        writer.Write("\r\n"u8);
    }

    // Address text needs no xtext encoding: none of its characters is outside 33..126, '+' or '='.
    private static void WriteAddress(IBufferWriter<byte> writer, IPAddress address)
    {
        address = IPAddressFormatting.Normalize(address);
        if (address.AddressFamily == AddressFamily.InterNetworkV6)
        {
            writer.Write("IPV6:"u8);
        }

        IPAddressFormatting.WriteText(writer, address);
    }

    private static void WriteName(IBufferWriter<byte> writer, string? name)
    {
        var value = name switch
        {
            null => ClientHostNames.Unavailable,
            _ when string.Equals(name, ClientHostNames.TemporarilyUnavailable, StringComparison.OrdinalIgnoreCase) => ClientHostNames.TemporarilyUnavailable,
            _ when HostNameSyntax.IsValid(name) => name,
            _ => ClientHostNames.Unavailable,
        };
        Xtext.Write(writer, value);
    }
}
