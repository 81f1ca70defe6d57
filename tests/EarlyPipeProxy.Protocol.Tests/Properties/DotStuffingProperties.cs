using System.Buffers;
using CsCheck;
using EarlyPipeProxy.Fuzz.Drivers;
using EarlyPipeProxy.Protocol.Data;

namespace EarlyPipeProxy.Protocol.Tests.Properties;

/// <summary>
/// DotStuffer and DotUnstuffer (a DATA body leaving as BDAT): fed in any pieces they write what they write for the
/// whole, and unstuffing what was stuffed gives back any bytes at all.
/// </summary>
public sealed class DotStuffingProperties
{
    [Fact]
    public void Stuffing_and_unstuffing_in_pieces_equal_doing_it_whole_and_undo_each_other()
    {
        Property.Check(Gen.Select(ProtocolGen.Bytes, Gen.Int[0, 400].Array[0, 10]), t =>
        {
            var (text, cuts) = t;
            var stuffed = Stuff([text]);
            var pieces = Pieces(text, cuts);

            Assert.Equal(Shown.Bytes(stuffed), Shown.Bytes(Stuff(pieces)));
            Assert.Equal(Shown.Bytes(Unstuff([stuffed])), Shown.Bytes(Unstuff(Pieces(stuffed, cuts))));
            Assert.Equal(Shown.Bytes(text), Shown.Bytes(Unstuff(Pieces(stuffed, cuts))));
        }, iterations: 400);
    }

    private static List<byte[]> Pieces(byte[] bytes, int[] cuts)
    {
        var bounds = cuts.Select(c => Math.Min(c, bytes.Length)).Append(0).Append(bytes.Length).Distinct().Order().ToList();
        return [.. bounds.Zip(bounds.Skip(1), (from, to) => bytes[from..to])];
    }

    private static byte[] Stuff(IEnumerable<byte[]> pieces)
    {
        var stuffer = default(DotStuffer);
        var output = new ArrayBufferWriter<byte>();
        foreach (var piece in pieces)
        {
            stuffer.Stuff(piece, output);
        }

        return output.WrittenSpan.ToArray();
    }

    private static byte[] Unstuff(IEnumerable<byte[]> pieces)
    {
        var unstuffer = default(DotUnstuffer);
        var output = new ArrayBufferWriter<byte>();
        foreach (var piece in pieces)
        {
            unstuffer.Unstuff(piece, output);
        }

        return output.WrittenSpan.ToArray();
    }
}
