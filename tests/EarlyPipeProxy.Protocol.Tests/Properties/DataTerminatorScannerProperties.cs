using System.Buffers;
using CsCheck;
using EarlyPipeProxy.Fuzz.Drivers;
using EarlyPipeProxy.Protocol.Data;

namespace EarlyPipeProxy.Protocol.Tests.Properties;

/// <summary>
/// DataTerminatorScanner against DataTerminatorModel, a byte-at-a-time statement of the rule: the same results at the
/// same positions for the whole body and for any split into arrivals and segments (a refusal in a line begun in an
/// earlier buffer reported at that buffer's start), with and without draining; and a dot-stuffed message always
/// ends exactly at its terminator and unstuffs back to the text.
/// </summary>
public sealed class DataTerminatorScannerProperties
{
    // Bodies made mostly of the bytes the rule is about.
    private static readonly Gen<byte[]> Body = Gen.Frequency(
        ProtocolGen.W(3, ProtocolGen.Special),
        ProtocolGen.W(3, ProtocolGen.Text),
        ProtocolGen.W(1, ProtocolGen.Token)).Array[0, 40].Select(ProtocolGen.Concat);

    [Fact]
    public void The_scanner_matches_the_model_whole_and_split_anywhere()
    {
        Property.Check(Gen.Select(ProtocolGen.Split(Body), Gen.Bool, Gen.Bool), t =>
        {
            var (input, ignore, drain) = t;
            var expected = DataTerminatorModel.Expect(input.Data, ignore, drain);
            DataScanning.RequireModel(expected, DataScanning.Run(input.Whole(), ignore, drain), "whole");
            DataScanning.RequireModel(expected, DataScanning.Run(input.Split(), ignore, drain), "split");
            DataScanning.RequireModel(expected, DataScanning.Run(input.OneByteAtATime(), ignore, drain), "one byte at a time");
        }, iterations: 1000);
    }

    [Fact]
    public void A_dot_stuffed_message_ends_exactly_at_its_terminator_and_unstuffs_back()
    {
        // Message text: lines of any bytes but CR, LF and NUL (dots wherever), CRLF-ended except perhaps the last.
        var line = Gen.Frequency(
            ProtocolGen.W(1, Gen.Const(ProtocolGen.Latin1("."))),
            ProtocolGen.W(1, Gen.Const(ProtocolGen.Latin1(".."))),
            ProtocolGen.W(4, Gen.Byte.Where(b => b is not (byte)'\r' and not (byte)'\n' and not 0).Array[0, 20]));
        var text = Gen.Select(line.Array[0, 12], Gen.Bool)
            .Select((lines, lastComplete) => ProtocolGen.Latin1(string.Join("\r\n", lines.Select(l => System.Text.Encoding.Latin1.GetString(l))) + (lastComplete && lines.Length > 0 ? "\r\n" : "")));
        Property.Check(Gen.Select(text, Gen.Int[0, 300].Array[0, 10]), t =>
        {
            var (message, cuts) = t;
            var stuffer = default(DotStuffer);
            var body = new ArrayBufferWriter<byte>();
            stuffer.Stuff(message, body);
            var bodyLength = body.WrittenCount;
            stuffer.WriteEndOfData(body);
            var withTail = ProtocolGen.Concat([body.WrittenSpan.ToArray(), ProtocolGen.Latin1("QUIT\r\n")]);

            var outcomes = DataScanning.Run(new SplitInput(withTail, cuts, cuts).Split(), ignoreBareLineEndings: false, drain: false);

            Assert.Equal([new ScanOutcome(DataScanStatus.EndOfData, body.WrittenCount, outcomes[0].BufferStart)], outcomes);
            var unstuffed = new ArrayBufferWriter<byte>();
            var unstuffer = default(DotUnstuffer);
            foreach (var piece in body.WrittenSpan[..(body.WrittenCount - 3)].ToArray().Chunk(7))
            {
                unstuffer.Unstuff(piece, unstuffed);
            }

            var expected = stuffer.AtLineStart ? message : ProtocolGen.Concat([message, ProtocolGen.Latin1("\r\n")]);
            Assert.Equal(Shown.Bytes(expected), Shown.Bytes(unstuffed.WrittenSpan));
            Assert.True(bodyLength >= message.Length);
        }, iterations: 400);
    }
}
