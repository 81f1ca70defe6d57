using EarlyPipeProxy.Protocol.Capabilities;
using EarlyPipeProxy.Protocol.Tests.TestSupport;

namespace EarlyPipeProxy.Protocol.Tests.Capabilities;

public sealed class EarlyPipeKeywordsTests
{
    private static EhloCapabilities Parse(params string[] keywords)
    {
        var raw = "250" + (keywords.Length == 0 ? " mx\r\n" : "-mx\r\n");
        for (var i = 0; i < keywords.Length; i++)
        {
            raw += "250" + (i == keywords.Length - 1 ? " " : "-") + keywords[i] + "\r\n";
        }

        Assert.True(EhloCapabilities.TryParse(Bytes.Sequence(raw), out var capabilities));
        return capabilities!;
    }

    [Fact]
    public void Spellings_NewestFirst()
    {
        Assert.Equal(["PIPECONNECT", "PIPE_CONNECT", "X_PIPE_CONNECT"], EarlyPipeKeywords.Spellings);
    }

    [Theory]
    [InlineData("PIPECONNECT", "PIPECONNECT")]
    [InlineData("PIPE_CONNECT", "PIPE_CONNECT")]
    [InlineData("X_PIPE_CONNECT", "X_PIPE_CONNECT")]
    [InlineData("pipeconnect", "PIPECONNECT")]
    public void FindKeyword_OneSpelling_ReturnsItCanonically(string offered, string expected)
    {
        var capabilities = Parse("PIPELINING", offered);

        Assert.Equal(expected, EarlyPipeKeywords.FindKeyword(capabilities));
        Assert.True(EarlyPipeKeywords.OffersEarlyPipelining(capabilities));
    }

    [Fact]
    public void FindKeyword_TwoSpellings_PrefersTheNewest()
    {
        var capabilities = Parse("PIPELINING", "X_PIPE_CONNECT", "PIPECONNECT");

        Assert.Equal(EarlyPipeKeywords.PipeConnect, EarlyPipeKeywords.FindKeyword(capabilities));
    }

    [Fact]
    public void FindKeyword_None_ReturnsNull()
    {
        var capabilities = Parse("PIPELINING", "CHUNKING", "PIPECONNECTX");

        Assert.Null(EarlyPipeKeywords.FindKeyword(capabilities));
        Assert.False(EarlyPipeKeywords.OffersEarlyPipelining(capabilities));
    }

    [Fact]
    public void OffersEarlyPipelining_KeywordWithoutPipelining_IsFalse()
    {
        var capabilities = Parse("PIPECONNECT", "CHUNKING");

        Assert.Equal(EarlyPipeKeywords.PipeConnect, EarlyPipeKeywords.FindKeyword(capabilities));
        Assert.False(EarlyPipeKeywords.OffersEarlyPipelining(capabilities));
    }

    [Fact]
    public void FindKeyword_Null_Throws()
    {
        Assert.Throws<ArgumentNullException>(() => EarlyPipeKeywords.FindKeyword(null!));
    }
}
