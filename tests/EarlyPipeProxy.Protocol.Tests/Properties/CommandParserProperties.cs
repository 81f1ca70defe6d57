using System.Buffers;
using CsCheck;
using EarlyPipeProxy.Fuzz.Drivers;
using EarlyPipeProxy.Protocol.Commands;

namespace EarlyPipeProxy.Protocol.Tests.Properties;

/// <summary>
/// Command lines (the AUTH allowance included) and SmtpCommandParser: split anywhere, the same commands; a line parsed
/// from segments is the line parsed whole; a BDAT size is read back exactly however the line is cut.
/// </summary>
public sealed class CommandParserProperties
{
    private static readonly Gen<int> MaxLength = Gen.OneOf(16, 64, 512);

    private static readonly Gen<int> MaxAuthLength = Gen.OneOf(0, 100, 12288);

    [Fact]
    public void Command_lines_split_anywhere_parse_as_unsplit()
    {
        Property.Check(Gen.Select(ProtocolGen.Split(ProtocolGen.Bytes), MaxLength, MaxAuthLength), t =>
        {
            var (input, maxLength, maxAuthLength) = t;
            var unsplit = LineFraming.Run(input.Whole(), maxLength, maxAuthLength);
            Shown.RequireSame(unsplit, LineFraming.Run(input.Split(), maxLength, maxAuthLength), "split");
        }, iterations: 400);
    }

    [Fact]
    public void A_line_in_segments_parses_as_the_same_line_whole()
    {
        // Lines without their CRLF, up to and past the parser's stack-copy size.
        var line = Gen.Frequency(
            ProtocolGen.W(3, ProtocolGen.Command.Select(ProtocolGen.Latin1)),
            ProtocolGen.W(1, ProtocolGen.Bytes));
        Property.Check(Gen.Select(ProtocolGen.Split(line), Gen.Bool), t =>
        {
            var (input, oneByteEach) = t;
            var segments = oneByteEach ? input.OneByteAtATime() : input.Split();
            while (segments.TryArrive())
            {
            }

            _ = CommandParsing.Describe(segments.Buffer);
            Assert.Equal(SmtpCommandParser.Parse(input.Data), SmtpCommandParser.Parse(segments.Buffer));
        }, iterations: 500);
    }

    [Fact]
    public void A_BDAT_size_is_read_back_exactly_wherever_the_line_is_cut()
    {
        var gen = Gen.Select(
            Gen.Long[0, long.MaxValue],
            Gen.OneOf("", "0", "000"),
            Gen.OneOf("BDAT", "bdat", "\tBdAt"),
            Gen.OneOf("", " LAST", " last", " LaSt  "),
            Gen.Int[0, 40].Array[0, 8]);
        Property.Check(gen, t =>
        {
            var (size, zeros, verb, last, cuts) = t;
            var line = ProtocolGen.Latin1($"{verb} {zeros}{size}{last}");
            var input = new SplitInput(line, [], cuts);
            var segments = input.Split();

            var command = SmtpCommandParser.Parse(segments.Buffer);

            Assert.Equal(SmtpVerb.Bdat, command.Verb);
            Assert.Equal(size, command.BdatChunkSize);
            Assert.Equal(last.Length > 0, command.BdatLast);
        }, iterations: 500);
    }

    [Fact]
    public void A_BDAT_size_past_long_is_malformed_not_wrapped()
    {
        var gen = Gen.Select(Gen.ULong[(ulong)long.MaxValue + 1, ulong.MaxValue], Gen.OneOf("", "0", "9"));
        Property.Check(gen, t =>
        {
            var (size, suffix) = t;
            var command = SmtpCommandParser.Parse(ProtocolGen.Latin1($"BDAT {size}{suffix} LAST"));

            Assert.True(command.IsMalformedBdat, $"{size}{suffix} read as {command.BdatChunkSize}");
        }, iterations: 200);
    }

    [Fact]
    public void Parse_of_a_multi_segment_sequence_matches_the_span_parse_for_any_bytes()
    {
        Property.Check(ProtocolGen.Split(Gen.Byte.Array[0, 700]), input =>
        {
            var segments = input.Split();
            while (segments.TryArrive())
            {
            }

            Assert.Equal(SmtpCommandParser.Parse(input.Data), SmtpCommandParser.Parse(new ReadOnlySequence<byte>(input.Data)));
            Assert.Equal(SmtpCommandParser.Parse(input.Data), SmtpCommandParser.Parse(segments.Buffer));
        }, iterations: 300);
    }
}
