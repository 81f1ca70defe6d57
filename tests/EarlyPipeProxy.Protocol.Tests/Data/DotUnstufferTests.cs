using System.Buffers;
using System.Text;
using EarlyPipeProxy.Protocol.Data;

namespace EarlyPipeProxy.Protocol.Tests.Data;

public sealed class DotUnstufferTests
{
    [Theory]
    [InlineData("", "")]
    [InlineData("a\r\n", "a\r\n")]
    [InlineData("..\r\n", ".\r\n")]
    [InlineData("..x\r\n...y\r\nz.\r\n", ".x\r\n..y\r\nz.\r\n")]
    [InlineData(".x\r\n", "x\r\n")]
    [InlineData("a.\r\nb\r\n", "a.\r\nb\r\n")]
    public void Unstuff_Body_RemovesOneLeadingDotPerLine(string data, string expected)
    {
        Assert.Equal(expected, UnstuffInPieces(data, []));
    }

    [Fact]
    public void Unstuff_SplitAtEveryPoint_SameAsWhole()
    {
        const string Data = "..x\r\n...y\r\n.\r\nz.\r\n..";
        var whole = UnstuffInPieces(Data, []);
        for (var cut = 0; cut <= Data.Length; cut++)
        {
            Assert.Equal(whole, UnstuffInPieces(Data, [cut]));
        }

        Assert.Equal(whole, UnstuffInPieces(Data, Enumerable.Range(1, Data.Length)));
    }

    [Fact]
    public void Unstuff_OfStuff_GivesBackEveryShortText()
    {
        foreach (var text in DotStufferTests.ShortTexts("\r\n.a", 6))
        {
            var stuffed = DotStufferTests.StuffInPieces(text, []);
            // The body is what comes before the end-of-data line the stuffer appended.
            var body = stuffed[..stuffed.LastIndexOf(".\r\n", StringComparison.Ordinal)];
            var expected = text.EndsWith('\n') || text.Length == 0 ? text : text + "\r\n";

            Assert.Equal(expected, UnstuffInPieces(body, []));
        }
    }

    private static string UnstuffInPieces(string data, IEnumerable<int> cuts)
    {
        var output = new ArrayBufferWriter<byte>();
        var unstuffer = default(DotUnstuffer);
        var bytes = Encoding.Latin1.GetBytes(data);
        var from = 0;
        foreach (var cut in cuts.Append(bytes.Length))
        {
            unstuffer.Unstuff(bytes.AsSpan(from, cut - from), output);
            from = cut;
        }

        return Encoding.Latin1.GetString(output.WrittenSpan);
    }
}
