using System.Buffers;
using CsCheck;
using EarlyPipeProxy.Fuzz.Drivers;
using EarlyPipeProxy.Protocol.Replies;

namespace EarlyPipeProxy.Protocol.Tests.Properties;

/// <summary>
/// SmtpReplyReader: split anywhere it reads the same replies, within its bounds (ReplyFraming checks them: at most
/// maxLines lines of at most maxLineLength octets, one code, CRLF line ends; Incomplete never holds more than a
/// reply's worth); well-formed replies come back exactly as written.
/// </summary>
public sealed class ReplyReaderProperties
{
    private static readonly Gen<int> MaxLineLength = Gen.OneOf(3, 4, 16, 64, 512);

    private static readonly Gen<int> MaxLines = Gen.OneOf(1, 2, 3, 5, 100);

    [Fact]
    public void Replies_split_anywhere_read_as_unsplit_within_the_bounds()
    {
        // Mostly reply lines, so that runs of several replies and long multi-line ones are common.
        var replies = Gen.Frequency(
            ProtocolGen.W(5, Gen.Select(ProtocolGen.ReplyLine, ProtocolGen.LineEnd).Select((r, e) => ProtocolGen.Latin1(r + e))),
            ProtocolGen.W(1, ProtocolGen.Token)).Array[0, 30].Select(ProtocolGen.Concat);
        Property.Check(Gen.Select(ProtocolGen.Split(replies), MaxLineLength, MaxLines), t =>
        {
            var (input, maxLineLength, maxLines) = t;
            var unsplit = ReplyFraming.Run(input.Whole(), maxLineLength, maxLines);
            Shown.RequireSame(unsplit, ReplyFraming.Run(input.Split(), maxLineLength, maxLines), "split");
            Shown.RequireSame(unsplit, ReplyFraming.Run(input.OneByteAtATime(), maxLineLength, maxLines), "one byte at a time");
        }, iterations: 400);
    }

    [Fact]
    public void Well_formed_replies_read_back_as_written()
    {
        // A reply: a code, then 1-6 lines of text; every line but the last continued with '-'.
        var reply = Gen.Select(Gen.Int[200, 599], Gen.String[Gen.Char[" abcxyz.-0123456789"], 0, 40].Array[1, 6]);
        Property.Check(Gen.Select(reply.Array[1, 5], Gen.Int[0, 400].Array[0, 10]), t =>
        {
            var (written, cuts) = t;
            var texts = written.Select(r => string.Concat(r.Item2.Select((line, i) => $"{r.Item1}{(i < r.Item2.Length - 1 ? '-' : ' ')}{line}\r\n"))).ToList();
            var input = new SplitInput(ProtocolGen.Latin1(string.Concat(texts)), [], cuts).Split();
            var reader = new SequenceReader<byte>(input.Buffer);

            for (var i = 0; i < written.Length; i++)
            {
                var (code, lines) = written[i];
                Assert.Equal(ReplyReadStatus.Complete, SmtpReplyReader.TryReadReply(ref reader, 64, out var read));
                Assert.Equal(code, read.Code);
                Assert.Equal(lines.Length, read.LineCount);
                Assert.Equal(lines[^1], read.FinalLineText());
                Assert.Equal(texts[i], TestSupport.Bytes.Text(read.Raw));
            }

            Assert.Equal(0, reader.Remaining);
        }, iterations: 300);
    }
}
