using System.Buffers;
using System.Text;
using EarlyPipeProxy.Protocol.Data;

namespace EarlyPipeProxy.Protocol.Tests.Data;

public sealed class DotStufferTests
{
    [Theory]
    [InlineData("", ".\r\n")]
    [InlineData("a\r\n", "a\r\n.\r\n")]
    [InlineData(".\r\n", "..\r\n.\r\n")]
    [InlineData(".x\r\n..y\r\nz.\r\n", "..x\r\n...y\r\nz.\r\n.\r\n")]
    [InlineData("a\r\n.\r\nMAIL FROM:<x>\r\n", "a\r\n..\r\nMAIL FROM:<x>\r\n.\r\n")]
    [InlineData("no line end", "no line end\r\n.\r\n")]
    [InlineData("bare\n.lf\r\n", "bare\n..lf\r\n.\r\n")]
    public void Stuff_WholeText_ProducesTheDataForm(string text, string expected)
    {
        Assert.Equal(expected, StuffInPieces(text, []));
    }

    [Theory]
    [InlineData(".x\r\n..y\r\nz.\r\n")]
    [InlineData("a\r\n.\r\n.\r\n\r\n.")]
    public void Stuff_SplitAtEveryPoint_SameAsWhole(string text)
    {
        var whole = StuffInPieces(text, []);
        for (var cut = 0; cut <= text.Length; cut++)
        {
            Assert.Equal(whole, StuffInPieces(text, [cut]));
        }

        Assert.Equal(whole, StuffInPieces(text, Enumerable.Range(1, text.Length)));
    }

    [Fact]
    public void Stuff_EveryShortText_DataFormEndsExactlyAtItsOwnTerminator()
    {
        // Whatever the message holds, the scanner that guards the backend must find the end where the stuffer put it.
        foreach (var text in ShortTexts("\r\n.a", 6).Where(t => !HasBareLineEnding(t)))
        {
            var data = Encoding.Latin1.GetBytes(StuffInPieces(text, []));
            var scanner = DataTerminatorScanner.Create();
            var status = scanner.Scan(new ReadOnlySequence<byte>(data), out var position);

            Assert.True(status == DataScanStatus.EndOfData, $"no end for {Escape(text)}");
            Assert.True(position.GetInteger() == data.Length, $"end too early for {Escape(text)}");
        }
    }

    internal static string StuffInPieces(string text, IEnumerable<int> cuts)
    {
        var output = new ArrayBufferWriter<byte>();
        var stuffer = default(DotStuffer);
        var bytes = Encoding.Latin1.GetBytes(text);
        var from = 0;
        foreach (var cut in cuts.Append(bytes.Length))
        {
            stuffer.Stuff(bytes.AsSpan(from, cut - from), output);
            from = cut;
        }

        stuffer.WriteEndOfData(output);
        return Encoding.Latin1.GetString(output.WrittenSpan);
    }

    internal static IEnumerable<string> ShortTexts(string alphabet, int maxLength)
    {
        IEnumerable<string> level = [string.Empty];
        for (var length = 0; length <= maxLength; length++)
        {
            foreach (var text in level)
            {
                yield return text;
            }

            level = level.SelectMany(t => alphabet.Select(c => t + c)).ToList();
        }
    }

    private static bool HasBareLineEnding(string text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            if ((text[i] == '\n' && (i == 0 || text[i - 1] != '\r')) || (text[i] == '\r' && (i + 1 == text.Length || text[i + 1] != '\n')))
            {
                return true;
            }
        }

        return false;
    }

    private static string Escape(string text) => text.Replace("\r", "\\r", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);
}
