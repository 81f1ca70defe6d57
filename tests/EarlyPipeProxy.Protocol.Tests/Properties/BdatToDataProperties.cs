using System.Buffers;
using CsCheck;
using EarlyPipeProxy.Fuzz.Drivers;
using EarlyPipeProxy.Protocol.Data;

namespace EarlyPipeProxy.Protocol.Tests.Properties;

/// <summary>
/// BdatToDataConverter (a BDAT message leaving as DATA), for any content and any chunking: content with only CRLF
/// line ends and no NUL comes out as DATA whose only end of data is the last one, and reading it back as a DATA
/// receiver does (scan to the end of data, unstuff) gives the content, with a CRLF added when its last line had none.
/// Any other content is refused at its first bare CR, bare LF or NUL, and what was written by then holds no end of
/// data and no bare line ending.
/// </summary>
public sealed class BdatToDataProperties
{
    [Fact]
    public void Any_content_in_any_chunks_reads_back_as_itself_or_is_refused_without_an_end_of_data()
    {
        var content = Gen.Frequency(
            ProtocolGen.W(3, ProtocolGen.Bytes),
            ProtocolGen.W(2, CrlfOnlyText));
        Property.Check(Gen.Select(content, Gen.Int[0, 400].Array[0, 10]), t =>
        {
            var (text, cuts) = t;
            var expected = FirstRefusal(text);
            var (status, data) = Convert(Pieces(text, cuts));

            Assert.Equal(expected, status);
            var scanner = DataTerminatorScanner.Create();
            var scan = scanner.Scan(new ReadOnlySequence<byte>(data), out var position);
            if (expected != ChunkConversionStatus.Converted)
            {
                Assert.Equal(DataScanStatus.NeedMoreData, scan);
                return;
            }

            // The only end of data is at the very end.
            Assert.Equal(DataScanStatus.EndOfData, scan);
            Assert.Equal(data.Length, new ReadOnlySequence<byte>(data).Slice(0, position).Length);

            var unstuffer = default(DotUnstuffer);
            var back = new ArrayBufferWriter<byte>();
            unstuffer.Unstuff(data.AsSpan(0, data.Length - 3), back);
            var needsLineEnd = text.Length > 0 && !text.AsSpan().EndsWith("\r\n"u8);
            var original = needsLineEnd ? [.. text, (byte)'\r', (byte)'\n'] : text;
            Assert.Equal(Shown.Bytes(original), Shown.Bytes(back.WrittenSpan.ToArray()));

            // Chunking changes nothing: the whole content at once gives the same DATA.
            Assert.Equal(Shown.Bytes(data), Shown.Bytes(Convert([text]).Data));
        }, iterations: 600);
    }

    // Lines of text, dots and 8-bit octets with CRLF ends, the last one possibly without.
    private static readonly Gen<byte[]> CrlfOnlyText =
        Gen.Select(
                Gen.Frequency(
                        ProtocolGen.W(4, Gen.Byte[0x01, 0xff].Where(b => b is not (0x0d or 0x0a)).Array[0, 30]),
                        ProtocolGen.W(1, Gen.OneOf(".", "..", ".x", "..\u00ff").Select(ProtocolGen.Latin1)))
                    .Array[0, 8],
                Gen.Bool)
            .Select((lines, lastEnded) =>
            {
                var joined = lines.SelectMany((line, i) => i < lines.Length - 1 || lastEnded ? [.. line, (byte)'\r', (byte)'\n'] : line);
                return joined.ToArray();
            });

    /// <summary>The model: the first octet DATA cannot carry, by position.</summary>
    private static ChunkConversionStatus FirstRefusal(byte[] text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            switch (text[i])
            {
                case 0:
                    return ChunkConversionStatus.NulCharacter;
                case (byte)'\n' when i == 0 || text[i - 1] != '\r':
                    return ChunkConversionStatus.BareLineFeed;
                case (byte)'\r' when i + 1 == text.Length || text[i + 1] != '\n':
                    return ChunkConversionStatus.BareCarriageReturn;
            }
        }

        return ChunkConversionStatus.Converted;
    }

    private static List<byte[]> Pieces(byte[] bytes, int[] cuts)
    {
        var bounds = cuts.Select(c => Math.Min(c, bytes.Length)).Append(0).Append(bytes.Length).Distinct().Order().ToList();
        return [.. bounds.Zip(bounds.Skip(1), (from, to) => bytes[from..to])];
    }

    private static (ChunkConversionStatus Status, byte[] Data) Convert(IEnumerable<byte[]> chunks)
    {
        var converter = BdatToDataConverter.Create();
        var output = new ArrayBufferWriter<byte>();
        foreach (var chunk in chunks)
        {
            converter.Convert(chunk, output);
        }

        var status = converter.WriteEndOfData(output);
        return (status, output.WrittenSpan.ToArray());
    }
}
