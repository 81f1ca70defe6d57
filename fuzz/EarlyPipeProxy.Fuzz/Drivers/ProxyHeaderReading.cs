using System.Buffers;
using EarlyPipeProxy.Protocol.ClientIdentity;

namespace EarlyPipeProxy.Fuzz.Drivers;

/// <summary>
/// Reads a connection's first octets as a listed load balancer's PROXY header the way the inbound listener does: parse
/// what has arrived, wait while Incomplete, decide once. Checks on the way: a decision taken on a prefix is final (the
/// same input whole gives the same one), a header's length is within what arrived and the protocol's bounds, Incomplete
/// never sits on more than a header may hold, a refusal names its problem in printable text, a signature
/// (<see cref="ProxyProtocolHeaderParser.StartsWithSignature"/>) is never taken for a client's octets, and a client
/// address read back out of a header written for it is the same.
/// </summary>
internal static class ProxyHeaderReading
{
    // The most a header may occupy before the parser must decide: v2's 16-octet preamble plus its largest block.
    private const int MaxUndecided = 16 + ProxyProtocolHeaderParser.MaxV2Length;

    public static List<string> Run(ArrivingInput input)
    {
        while (true)
        {
            var buffer = input.Buffer;
            var header = ProxyProtocolHeaderParser.Parse(buffer);
            Check(header, buffer);
            if (header.Status != ProxyHeaderStatus.Incomplete)
            {
                input.Advance(header.Length);
                return [Describe(header), $"left {input.Length - input.Consumed}"];
            }

            if (!input.TryArrive())
            {
                return [$"closed while Incomplete v{header.Version} with {input.Length} octets"];
            }
        }
    }

    private static void Check(ProxyHeader header, in ReadOnlySequence<byte> buffer)
    {
        var signature = ProxyProtocolHeaderParser.StartsWithSignature(buffer);
        switch (header.Status)
        {
            case ProxyHeaderStatus.Incomplete when buffer.Length > MaxUndecided:
                throw new InvariantViolationException($"Incomplete on {buffer.Length} octets, over the {MaxUndecided} a header may hold");
            case ProxyHeaderStatus.NotAHeader when signature:
                throw new InvariantViolationException("a PROXY signature read as a client's octets");
            case ProxyHeaderStatus.Proxied or ProxyHeaderStatus.Local when header.Length <= 0 || header.Length > buffer.Length:
                throw new InvariantViolationException($"{header.Status} of length {header.Length} in {buffer.Length} arrived octets");
            case ProxyHeaderStatus.Proxied or ProxyHeaderStatus.Local when !signature:
                throw new InvariantViolationException($"{header.Status} without a signature");
            case ProxyHeaderStatus.Proxied or ProxyHeaderStatus.Local when header.Length > (header.Version == 1 ? ProxyProtocolHeaderParser.MaxV1Length : MaxUndecided):
                throw new InvariantViolationException($"v{header.Version} header of {header.Length} octets, over the protocol's bound");
            case ProxyHeaderStatus.Invalid when string.IsNullOrEmpty(header.Problem) || header.Problem.Any(c => c is < ' ' or > '~'):
                throw new InvariantViolationException($"Invalid without a printable problem: {header.Problem}");
            case ProxyHeaderStatus.Proxied:
                CheckWrittenBack(header);
                break;
        }

        if (header.Status != ProxyHeaderStatus.Proxied && (header.Source is not null || header.Destination is not null))
        {
            throw new InvariantViolationException($"{header.Status} carrying addresses");
        }
    }

    // What the proxy itself writes toward a backend for this client must read back as the same client (v1 and v2).
    private static void CheckWrittenBack(ProxyHeader header)
    {
        if (header.Source is not { } source || header.Destination is not { } destination || source.AddressFamily != destination.AddressFamily)
        {
            throw new InvariantViolationException("Proxied without two addresses of one family");
        }

        foreach (var version in new[] { 1, 2 })
        {
            var writer = new ArrayBufferWriter<byte>();
            if (version == 1)
            {
                ProxyProtocolHeader.WriteV1(writer, source, destination);
            }
            else
            {
                ProxyProtocolHeader.WriteV2(writer, source, destination);
            }

            var again = ProxyProtocolHeaderParser.Parse(new ReadOnlySequence<byte>(writer.WrittenMemory));
            if (again.Status != ProxyHeaderStatus.Proxied || again.Length != writer.WrittenCount
                || !Equals(again.Source, source) || !Equals(again.Destination, destination))
            {
                throw new InvariantViolationException($"{source} to {destination} written as v{version} reads back as {Describe(again)}");
            }
        }
    }

    private static string Describe(ProxyHeader header) => header.Status switch
    {
        ProxyHeaderStatus.Proxied => $"Proxied v{header.Version} length {header.Length} from {header.Source} to {header.Destination}",
        ProxyHeaderStatus.Local => $"Local v{header.Version} length {header.Length}",
        ProxyHeaderStatus.Invalid => $"Invalid v{header.Version}: {header.Problem}",
        _ => header.Status.ToString(),
    };
}
