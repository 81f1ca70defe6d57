using EarlyPipeProxy.Protocol.Capabilities;
using EarlyPipeProxy.Protocol.Tests.TestSupport;

namespace EarlyPipeProxy.Protocol.Tests.Capabilities;

/// <summary>A reply kept as its lines (how the EHLO cache stores one) and read back into the same model.</summary>
public sealed class EhloCapabilitiesLinesTests
{
    private const string Reply = "250-mx.example Hello [198.18.0.1]\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n250 PIPECONNECT\r\n";

    [Fact]
    public void SplitLines_gives_each_line_as_received_without_its_crlf_at_every_split_point()
    {
        for (var cut = 0; cut <= Reply.Length; cut++)
        {
            var lines = EhloCapabilities.SplitLines(Bytes.SplitAt(Reply, cut));

            Assert.Equal(["250-mx.example Hello [198.18.0.1]", "250-PIPELINING", "250-SIZE 52428800", "250 PIPECONNECT"], lines);
        }
    }

    [Fact]
    public void Lines_parse_into_the_same_model_as_the_raw_reply()
    {
        Assert.True(EhloCapabilities.TryParse(Bytes.Sequence(Reply), out var fromRaw));

        var parsed = EhloCapabilities.TryParse(EhloCapabilities.SplitLines(Bytes.Sequence(Reply)), out var fromLines);

        Assert.True(parsed);
        Assert.Equal(fromRaw!.Greeting, fromLines!.Greeting);
        Assert.Equal(fromRaw.Keywords, fromLines.Keywords);
    }

    public static TheoryData<string> NotOneReply => new()
    {
        string.Empty,
        "250-mx\r\n250 PIPELINING",
        "250-mx|250 PIPE\nLINING",
        "550 no",
        "250-mx|251 PIPELINING",
    };

    [Theory]
    [MemberData(nameof(NotOneReply))]
    public void Lines_that_are_not_one_250_reply_are_refused(string joined)
    {
        var lines = joined.Length == 0 ? [] : joined.Split('|');
        Assert.False(EhloCapabilities.TryParse(lines, out var capabilities));
        Assert.Null(capabilities);
    }
}
