using System.Buffers;
using System.Text;
using EarlyPipeProxy.Protocol.Data;

namespace EarlyPipeProxy.Protocol.Tests.Data;

public sealed class BdatToDataConverterTests
{
    [Theory]
    [InlineData("", ".\r\n")]
    [InlineData("Subject: x\r\n\r\nbody\r\n", "Subject: x\r\n\r\nbody\r\n.\r\n")]
    [InlineData(".\r\n", "..\r\n.\r\n")]
    [InlineData("a\r\n.\r\nMAIL FROM:<x@y>\r\n", "a\r\n..\r\nMAIL FROM:<x@y>\r\n.\r\n")]
    [InlineData("..x\r\n.", "...x\r\n..\r\n.\r\n")]
    [InlineData("no line end", "no line end\r\n.\r\n")]
    [InlineData("caf\u00e9 8bit\r\n", "caf\u00e9 8bit\r\n.\r\n")]
    public void Convert_WholeMessage_IsStuffedAndEnded(string content, string expected)
    {
        var (status, data) = ConvertInPieces([content]);

        Assert.Equal(ChunkConversionStatus.Converted, status);
        Assert.Equal(expected, data);
    }

    [Theory]
    [InlineData(new[] { "a\r", "\nb\r\n" }, "a\r\nb\r\n.\r\n")]
    [InlineData(new[] { "a\r\n", ".b\r\n" }, "a\r\n..b\r\n.\r\n")]
    [InlineData(new[] { "a\r\n", "", ".", "\r", "\n" }, "a\r\n..\r\n.\r\n")]
    [InlineData(new[] { "\r", "\n", ".", "." }, "\r\n...\r\n.\r\n")]
    [InlineData(new[] { "x", ".y\r\n" }, "x.y\r\n.\r\n")]
    public void Convert_ChunkBoundaryAnywhere_SameAsWhole(string[] chunks, string expected)
    {
        var (status, data) = ConvertInPieces(chunks);

        Assert.Equal(ChunkConversionStatus.Converted, status);
        Assert.Equal(expected, data);
    }

    [Theory]
    [InlineData("a\n.\nMAIL FROM:<x@y>\r\n", ChunkConversionStatus.BareLineFeed)]
    [InlineData("a\r\n.\n", ChunkConversionStatus.BareLineFeed)]
    [InlineData("a\n.\r\n", ChunkConversionStatus.BareLineFeed)]
    [InlineData("a\r.\r\n", ChunkConversionStatus.BareCarriageReturn)]
    [InlineData("a\r\n\0.\r\n", ChunkConversionStatus.NulCharacter)]
    [InlineData("a\r\n.\r\r\n", ChunkConversionStatus.BareCarriageReturn)]
    [InlineData("last line ends in CR\r", ChunkConversionStatus.BareCarriageReturn)]
    public void Convert_SmugglingPatterns_AreRefusedWithoutAnEndOfData(string content, ChunkConversionStatus refusal)
    {
        var (status, data) = ConvertInPieces([content]);

        Assert.Equal(refusal, status);
        Assert.DoesNotContain("\r\n.\r\n", "\r\n" + data, StringComparison.Ordinal);
        Assert.DoesNotContain("\n.", data, StringComparison.Ordinal);
    }

    [Fact]
    public void Convert_RefusalIsFinal_LaterInputWritesNothing()
    {
        var converter = BdatToDataConverter.Create();
        var output = new ArrayBufferWriter<byte>();

        converter.Convert("ok\r\nbad\nline"u8, output);
        var afterRefusal = output.WrittenCount;
        var next = converter.Convert("more\r\n"u8, output);
        var end = converter.WriteEndOfData(output);

        Assert.Equal("ok\r\n", Encoding.Latin1.GetString(output.WrittenSpan));
        Assert.Equal(afterRefusal, output.WrittenCount);
        Assert.Equal(ChunkConversionStatus.BareLineFeed, next);
        Assert.Equal(ChunkConversionStatus.BareLineFeed, end);
    }

    [Fact]
    public void Convert_CrHeldAcrossChunks_IsRefusedWhenTheNextChunkDoesNotStartWithLf()
    {
        var (status, data) = ConvertInPieces(["line\r", "X\r\n"]);

        Assert.Equal(ChunkConversionStatus.BareCarriageReturn, status);
        Assert.Equal("line", data);
    }

    [Fact]
    public void WriteEndOfData_SaysWhetherALineEndWasAdded()
    {
        var converter = BdatToDataConverter.Create();
        var output = new ArrayBufferWriter<byte>();

        converter.Convert("no end"u8, output);
        converter.WriteEndOfData(output);

        Assert.True(converter.AddedLineEnd);
        Assert.Equal(6, converter.ContentOctets);
    }

    private static (ChunkConversionStatus Status, string Data) ConvertInPieces(IEnumerable<string> chunks)
    {
        var converter = BdatToDataConverter.Create();
        var output = new ArrayBufferWriter<byte>();
        var status = ChunkConversionStatus.Converted;
        foreach (var chunk in chunks)
        {
            status = converter.Convert(Encoding.Latin1.GetBytes(chunk), output);
        }

        status = converter.WriteEndOfData(output);
        return (status, Encoding.Latin1.GetString(output.WrittenSpan));
    }
}
