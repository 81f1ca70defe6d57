using CsCheck;
using EarlyPipeProxy.Fuzz.Drivers;

namespace EarlyPipeProxy.Protocol.Tests.Properties;

/// <summary>
/// A client stream framed into commands, DATA bodies and BDAT chunks (SessionFraming: the line reader, the parser,
/// the scanner and BdatChunk as the inbound session uses them): split anywhere it frames the same; and BDAT chunks of
/// any content, whatever lines and terminators they hold, come out exactly as announced.
/// </summary>
public sealed class BdatFramingProperties
{
    [Fact]
    public void A_session_split_anywhere_frames_as_unsplit()
    {
        // Commands most of the time, so that DATA and BDAT are often followed by what they frame.
        var stream = Gen.Frequency(
            ProtocolGen.W(4, Gen.Select(ProtocolGen.Command, ProtocolGen.LineEnd).Select((c, e) => ProtocolGen.Latin1(c + e))),
            ProtocolGen.W(3, ProtocolGen.Token)).Array[0, 30].Select(ProtocolGen.Concat);
        Property.Check(Gen.Select(ProtocolGen.Split(stream), Gen.OneOf(16, 64, 512), Gen.OneOf(64, 12288)), t =>
        {
            var (input, maxLength, maxAuthLength) = t;
            var unsplit = SessionFraming.Run(input.Whole(), maxLength, maxAuthLength);
            Shown.RequireSame(unsplit, SessionFraming.Run(input.Split(), maxLength, maxAuthLength), "split");
            Shown.RequireSame(unsplit, SessionFraming.Run(input.OneByteAtATime(), maxLength, maxAuthLength), "one byte at a time");
        }, iterations: 400);
    }

    [Fact]
    public void BDAT_chunks_come_out_exactly_as_announced_however_they_arrive()
    {
        var chunks = Gen.Select(ProtocolGen.Bytes, Gen.OneOf("BDAT", "bdat"), Gen.OneOf("NOOP\r\n", "", "RSET\r\n")).Array[1, 6];
        Property.Check(Gen.Select(chunks, Gen.Int[0, 2000].Array[0, 12], Gen.Int[0, 2000].Array[0, 12]), t =>
        {
            var (written, arrivals, cuts) = t;
            var stream = ProtocolGen.Concat(written.SelectMany((c, i) => new[]
            {
                ProtocolGen.Latin1($"{c.Item2} {c.Item1.Length}{(i == written.Length - 1 ? " LAST" : "")}\r\n"),
                c.Item1,
                ProtocolGen.Latin1(c.Item3),
            }));
            var expected = new List<string>();
            for (var i = 0; i < written.Length; i++)
            {
                var (body, verb, after) = written[i];
                expected.Add($"Bdat {Shown.Bytes(ProtocolGen.Latin1($"{verb} {body.Length}{(i == written.Length - 1 ? " LAST" : "")}"))}");
                expected.Add($"chunk last={i == written.Length - 1} {Shown.Bytes(body)}");
                if (after.Length > 0)
                {
                    expected.Add($"{(after[0] == 'N' ? "Noop" : "Rset")} {Shown.Bytes(ProtocolGen.Latin1(after[..^2]))}");
                }
            }

            expected.Add($"closed between commands with 0 taken, 0 unread");

            Shown.RequireSame(expected, SessionFraming.Run(new SplitInput(stream, arrivals, cuts).Split(), 512, 12288), "framed");
        }, iterations: 300);
    }
}
