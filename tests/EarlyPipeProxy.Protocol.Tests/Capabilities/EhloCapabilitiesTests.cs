using System.Buffers;
using EarlyPipeProxy.Protocol.Capabilities;
using EarlyPipeProxy.Protocol.Tests.TestSupport;

namespace EarlyPipeProxy.Protocol.Tests.Capabilities;

public sealed class EhloCapabilitiesTests
{
    private const string PostfixReply =
        "250-mx.example.org\r\n" +
        "250-PIPELINING\r\n" +
        "250-SIZE 10240000\r\n" +
        "250-AUTH PLAIN LOGIN\r\n" +
        "250-ENHANCEDSTATUSCODES\r\n" +
        "250 CHUNKING\r\n";

    private static EhloCapabilities Parse(string raw)
    {
        Assert.True(EhloCapabilities.TryParse(Bytes.Sequence(raw), out var capabilities));
        return capabilities!;
    }

    private static string Write(EhloCapabilities capabilities)
    {
        var writer = new ArrayBufferWriter<byte>();
        capabilities.WriteTo(writer);
        return Bytes.Text(writer.WrittenSpan);
    }

    [Fact]
    public void TryParse_PostfixReply_ReturnsGreetingAndKeywordsInOrder()
    {
        var capabilities = Parse(PostfixReply);

        Assert.Equal("mx.example.org", capabilities.Greeting);
        Assert.Equal(
            [
                new EhloKeyword("PIPELINING", ""),
                new EhloKeyword("SIZE", "10240000"),
                new EhloKeyword("AUTH", "PLAIN LOGIN"),
                new EhloKeyword("ENHANCEDSTATUSCODES", ""),
                new EhloKeyword("CHUNKING", ""),
            ],
            capabilities.Keywords);
    }

    [Fact]
    public void TryParse_GreetingOnly_ReturnsNoKeywords()
    {
        var capabilities = Parse("250 mx.example.org Hello client [192.0.2.1]\r\n");

        Assert.Equal("mx.example.org Hello client [192.0.2.1]", capabilities.Greeting);
        Assert.Empty(capabilities.Keywords);
    }

    [Fact]
    public void TryParse_BareFinalLine_ParsesEmptyGreeting()
    {
        var capabilities = Parse("250\r\n");

        Assert.Equal("", capabilities.Greeting);
        Assert.Empty(capabilities.Keywords);
    }

    [Fact]
    public void TryParse_OldStyleAuthEquals_KeepsKeywordAsSent()
    {
        var capabilities = Parse("250-mx\r\n250-AUTH=LOGIN PLAIN\r\n250 8BITMIME\r\n");

        Assert.Equal([new EhloKeyword("AUTH=LOGIN", "PLAIN"), new EhloKeyword("8BITMIME", "")], capabilities.Keywords);
    }

    [Fact]
    public void TryParse_EmptyKeywordLine_IsSkipped()
    {
        var capabilities = Parse("250-mx\r\n250-\r\n250 SMTPUTF8\r\n");

        Assert.Equal([new EhloKeyword("SMTPUTF8", "")], capabilities.Keywords);
    }

    [Fact]
    public void TryParse_SplitAtEveryOffset_ReturnsSameModel()
    {
        for (var cut = 0; cut <= PostfixReply.Length; cut++)
        {
            Assert.True(EhloCapabilities.TryParse(Bytes.SplitAt(PostfixReply, cut), out var capabilities));
            Assert.Equal("mx.example.org", capabilities!.Greeting);
            Assert.Equal(5, capabilities.Keywords.Count);
            Assert.Equal("PLAIN LOGIN", capabilities.GetParameters("AUTH"));
        }
    }

    [Theory]
    [InlineData("220 mx.example.org\r\n")]
    [InlineData("502 5.5.1 not implemented\r\n")]
    [InlineData("250-mx\r\n251 SIZE\r\n")]
    [InlineData("250-mx\r\n250-PIPELINING\n250 SIZE\r\n")]
    [InlineData("250-mx\r\n250-PIPELINING\r\n")]
    [InlineData("250 mx")]
    [InlineData("")]
    [InlineData("250 mx\r\n250 again\r\n")]
    [InlineData("hello\r\n")]
    public void TryParse_NotOneComplete250Reply_ReturnsFalse(string raw)
    {
        var ok = EhloCapabilities.TryParse(Bytes.Sequence(raw), out var capabilities);

        Assert.False(ok);
        Assert.Null(capabilities);
    }

    [Fact]
    public void Contains_DifferentCase_MatchesAsciiCaseInsensitively()
    {
        var capabilities = Parse(PostfixReply);

        Assert.True(capabilities.Contains("pipelining"));
        Assert.True(capabilities.Contains("Chunking"));
        Assert.False(capabilities.Contains("STARTTLS"));
        Assert.False(capabilities.Contains("PIPE"));
    }

    [Fact]
    public void GetParameters_Keyword_ReturnsParametersEmptyOrNull()
    {
        var capabilities = Parse(PostfixReply);

        Assert.Equal("10240000", capabilities.GetParameters("size"));
        Assert.Equal("", capabilities.GetParameters("PIPELINING"));
        Assert.Null(capabilities.GetParameters("STARTTLS"));
    }

    [Fact]
    public void Remove_PresentKeyword_RemovesAndReturnsTrue()
    {
        var capabilities = Parse(PostfixReply);

        Assert.True(capabilities.Remove("chunking"));

        Assert.False(capabilities.Contains("CHUNKING"));
        Assert.Equal(4, capabilities.Keywords.Count);
        Assert.False(capabilities.Remove("CHUNKING"));
    }

    [Fact]
    public void Remove_KeywordListedTwice_RemovesBoth()
    {
        var capabilities = new EhloCapabilities("mx", [new("STARTTLS", ""), new("SIZE", "1"), new("starttls", "")]);

        Assert.True(capabilities.Remove("STARTTLS"));

        Assert.Equal([new EhloKeyword("SIZE", "1")], capabilities.Keywords);
    }

    [Fact]
    public void Add_AfterPresentKeyword_InsertsRightAfterIt()
    {
        var capabilities = Parse(PostfixReply);

        capabilities.Add("PIPECONNECT", after: "pipelining");

        Assert.Equal(
            ["PIPELINING", "PIPECONNECT", "SIZE", "AUTH", "ENHANCEDSTATUSCODES", "CHUNKING"],
            capabilities.Keywords.Select(k => k.Name));
    }

    [Fact]
    public void Add_AfterAbsentKeyword_AppendsAtEnd()
    {
        var capabilities = Parse(PostfixReply);

        capabilities.Add("XCLIENT", "ADDR PORT NAME HELO", after: "NOSUCH");

        Assert.Equal(new EhloKeyword("XCLIENT", "ADDR PORT NAME HELO"), capabilities.Keywords[^1]);
    }

    [Fact]
    public void Add_WithoutAfter_AppendsAtEnd()
    {
        var capabilities = Parse("250 mx\r\n");

        capabilities.Add("SMTPUTF8");

        Assert.Equal([new EhloKeyword("SMTPUTF8", "")], capabilities.Keywords);
    }

    [Fact]
    public void Add_AlreadyPresent_LeavesListUnchanged()
    {
        var capabilities = Parse(PostfixReply);

        capabilities.Add("size", "1", after: "CHUNKING");

        Assert.Equal(5, capabilities.Keywords.Count);
        Assert.Equal("10240000", capabilities.GetParameters("SIZE"));
    }

    [Fact]
    public void Keywords_AfterMutation_ReflectsCurrentList()
    {
        var capabilities = Parse(PostfixReply);
        var keywords = capabilities.Keywords;

        capabilities.Remove("PIPELINING");

        Assert.Equal("SIZE", keywords[0].Name);
    }

    [Fact]
    public void Constructor_Keywords_AreCopied()
    {
        var source = new List<EhloKeyword> { new("SIZE", "") };
        var capabilities = new EhloCapabilities("mx", source);

        source.Add(new EhloKeyword("X", ""));

        Assert.Single(capabilities.Keywords);
    }

    [Fact]
    public void WriteTo_ParsedReply_WritesIdenticalBytes()
    {
        Assert.Equal(PostfixReply, Write(Parse(PostfixReply)));
    }

    [Fact]
    public void WriteTo_NoKeywords_WritesSingleFinalLine()
    {
        var capabilities = new EhloCapabilities("mx.example.org Hello", []);

        Assert.Equal("250 mx.example.org Hello\r\n", Write(capabilities));
    }

    [Fact]
    public void WriteTo_EmptyGreetingNoKeywords_WritesBareCode()
    {
        Assert.Equal("250\r\n", Write(new EhloCapabilities("", [])));
    }

    [Fact]
    public void WriteTo_AfterEdits_WritesEditedList()
    {
        var capabilities = Parse(PostfixReply);
        capabilities.Remove("CHUNKING");
        capabilities.Remove("AUTH");
        capabilities.Add("PIPECONNECT", after: "PIPELINING");

        Assert.Equal(
            "250-mx.example.org\r\n250-PIPELINING\r\n250-PIPECONNECT\r\n250-SIZE 10240000\r\n250 ENHANCEDSTATUSCODES\r\n",
            Write(capabilities));
    }

    [Fact]
    public void WriteTo_EightBitGreeting_RoundTripsEveryByte()
    {
        const string Raw = "250-mx \u00e9\u00ff\u0080\r\n250 SIZE\r\n";

        Assert.Equal(Raw, Write(Parse(Raw)));
    }

    [Fact]
    public void Clone_WritesTheSameReply()
    {
        var original = Parse(PostfixReply);

        var clone = original.Clone();

        Assert.NotSame(original, clone);
        Assert.Equal(original.Greeting, clone.Greeting);
        Assert.Equal(original.Keywords, clone.Keywords);
        Assert.Equal(PostfixReply, Write(clone));
    }

    [Fact]
    public void Clone_EditingTheClone_LeavesTheOriginal()
    {
        var original = Parse(PostfixReply);

        var clone = original.Clone();
        clone.Remove("CHUNKING");
        clone.Add("PIPECONNECT", after: "PIPELINING");

        Assert.Equal(PostfixReply, Write(original));
        Assert.True(original.Contains("CHUNKING"));
        Assert.False(original.Contains("PIPECONNECT"));
        Assert.Equal("PIPECONNECT", clone.Keywords[1].Name);
    }

    [Fact]
    public void Clone_EditingTheOriginal_LeavesTheClone()
    {
        var original = Parse(PostfixReply);
        var clone = original.Clone();

        original.Remove("PIPELINING");
        original.Add("STARTTLS");

        Assert.Equal(PostfixReply, Write(clone));
    }
}
