using System.Buffers;
using System.Net;
using CsCheck;
using EarlyPipeProxy.Fuzz.Drivers;
using EarlyPipeProxy.Protocol.ClientIdentity;

namespace EarlyPipeProxy.Protocol.Tests.Properties;

/// <summary>
/// ProxyProtocolHeaderParser as the listener reads a balancer's first octets: however they arrive, the decision is the
/// one the whole input gives, within the bounds (<see cref="ProxyHeaderReading"/> checks them); a header the proxy
/// writes reads back as the client it was written for, with whatever follows it left unread.
/// </summary>
public sealed class ProxyHeaderProperties
{
    private static readonly Gen<IPEndPoint> V4 = Gen.Select(Gen.UInt, Gen.Int[0, 65535])
        .Select((a, port) => new IPEndPoint(new IPAddress(BitConverter.GetBytes(a)), port));

    private static readonly Gen<IPEndPoint> V6 = Gen.Select(Gen.Byte.Array[16], Gen.Int[0, 65535])
        .Select((a, port) => new IPEndPoint(new IPAddress(a), port));

    private static readonly Gen<(IPEndPoint Source, IPEndPoint Destination)> Pair =
        Gen.OneOf(Gen.Select(V4, V4), Gen.Select(V6, V6));

    private static byte[] Written(int version, IPEndPoint source, IPEndPoint destination)
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

        return writer.WrittenSpan.ToArray();
    }

    [Fact]
    public void Headers_and_near_headers_split_anywhere_decide_as_unsplit()
    {
        // A written header, cut short or with octets flipped, followed by arbitrary bytes: the parser's decisions near
        // every boundary it has.
        var near = Gen.Select(Pair, Gen.Int[1, 2], Gen.Int[0, 300], Gen.Int[0, 300], Gen.Byte, ProtocolGen.Bytes)
            .Select((pair, version, cut, flip, value, tail) =>
            {
                var header = Written(version, pair.Source, pair.Destination);
                header = header[..Math.Min(header.Length, cut + 1)];
                if (flip < header.Length)
                {
                    header[flip] = value;
                }

                return ProtocolGen.Concat([header, tail]);
            });
        Property.Check(ProtocolGen.Split(near), input =>
        {
            var unsplit = ProxyHeaderReading.Run(input.Whole());
            Shown.RequireSame(unsplit, ProxyHeaderReading.Run(input.Split()), "split");
            Shown.RequireSame(unsplit, ProxyHeaderReading.Run(input.OneByteAtATime()), "one byte at a time");
        }, iterations: 600);
    }

    [Fact]
    public void A_written_header_reads_back_as_its_client_and_leaves_what_follows()
    {
        Property.Check(Gen.Select(Pair, Gen.Int[1, 2], ProtocolGen.Bytes), t =>
        {
            var ((source, destination), version, tail) = t;
            var header = Written(version, source, destination);

            var read = ProxyProtocolHeaderParser.Parse(new ReadOnlySequence<byte>([.. header, .. tail]));

            Assert.Equal(ProxyHeaderStatus.Proxied, read.Status);
            Assert.Equal(version, read.Version);
            Assert.Equal(header.Length, read.Length);
            Assert.Equal(source, read.Source);
            Assert.Equal(destination, read.Destination);
        }, iterations: 400);
    }
}
