using System.Buffers;
using EarlyPipeProxy.Protocol.Replies;
using EarlyPipeProxy.Protocol.Tests.TestSupport;

namespace EarlyPipeProxy.Protocol.Tests.Replies;

public sealed class QueueIdParserTests
{
    [Theory]
    // Postfix, enable_long_queue_ids = yes (the default since 3.x in many packages) and the classic hex short id.
    [InlineData("250 2.0.0 Ok: queued as 4Xyz15mPGz9sZ1\r\n", "4Xyz15mPGz9sZ1")]
    [InlineData("250 2.0.0 Ok: queued as 3F2A81234B\r\n", "3F2A81234B")]
    [InlineData("250 Ok: queued as 8A2C61A0B5D\r\n", "8A2C61A0B5D")]
    // Exim 4.96 (6-6-2) and 4.97+ (6-11-4) message ids.
    [InlineData("250 OK id=1abcDE-000123-XY\r\n", "1abcDE-000123-XY")]
    [InlineData("250 OK id=1rKPGr-00000000Bsf-0Ubu\r\n", "1rKPGr-00000000Bsf-0Ubu")]
    // Case of the markers does not matter; the id ends at a space or the line's end.
    [InlineData("250 2.0.0 OK: QUEUED AS ABC123 (extra words)\r\n", "ABC123")]
    [InlineData("250 ok ID=1abcDE-000123-XY\r\n", "1abcDE-000123-XY")]
    [InlineData("250 OK id=1abcDE-000123-XY", "1abcDE-000123-XY")]
    // Multi-line: the id may be on any line.
    [InlineData("250-2.0.0 Ok\r\n250 2.0.0 queued as 4QxYz\r\n", "4QxYz")]
    [InlineData("250-Ok: queued as 4First\r\n250 and more text\r\n", "4First")]
    public void TryParse_ReplyNamingAQueueId_ReturnsIt(string reply, string expected)
    {
        Assert.True(QueueIdParser.TryParse(Bytes.Sequence(reply), out var id));
        Assert.Equal(expected, id);
    }

    [Theory]
    [InlineData("250 2.0.0 Ok\r\n")]
    [InlineData("250 2.0.0 Ok: 1234 octets received\r\n")]
    [InlineData("250\r\n")]
    [InlineData("")]
    // Exchange's "[InternalId=…]" is not Exim's id=.
    [InlineData("250 2.6.0 <a@b> [InternalId=12345, Hostname=x] Queued mail for delivery\r\n")]
    // Hostile or odd text: escapes, control characters, punctuation glued to the id, nothing after the marker.
    [InlineData("250 Ok: queued as \u001b[31mRED\r\n")]
    [InlineData("250 Ok: queued as ABC\u001b[31m\r\n")]
    [InlineData("250 Ok: queued as ABC;rm -rf\r\n")]
    [InlineData("250 Ok: queued as ABC\"quote\r\n")]
    [InlineData("250 OK id=ab\u0000cd\r\n")]
    [InlineData("250 Ok: queued as \r\n")]
    [InlineData("250 OK id=\r\n")]
    [InlineData("250 OK id=-leading-dash\r\n")]
    [InlineData("250 Ok: queued as caf\u00e9\r\n")]
    public void TryParse_ReplyWithoutASafeQueueId_ReturnsFalse(string reply)
    {
        Assert.False(QueueIdParser.TryParse(Bytes.Sequence(reply), out var id));
        Assert.Equal(string.Empty, id);
    }

    [Fact]
    public void TryParse_IdLongerThanTheBound_IsNoIdAtAll()
    {
        var atBound = new string('A', QueueIdParser.MaxLength);
        var overBound = new string('A', QueueIdParser.MaxLength + 1);

        Assert.True(QueueIdParser.TryParse(Bytes.Sequence($"250 Ok: queued as {atBound}\r\n"), out var id));
        Assert.Equal(atBound, id);
        Assert.False(QueueIdParser.TryParse(Bytes.Sequence($"250 Ok: queued as {overBound}\r\n"), out _));
    }

    [Fact]
    public void TryParse_HugeLineAndManyLines_StaysBoundedAndFindsTheId()
    {
        var filler = string.Concat(Enumerable.Repeat("250-" + new string('x', 5000) + "\r\n", 50));

        Assert.True(QueueIdParser.TryParse(Bytes.Sequence(filler + "250 Ok: queued as 4Last\r\n"), out var id));
        Assert.Equal("4Last", id);
        // A marker past the part of a line looked at is not found: the work per line is bounded.
        Assert.False(QueueIdParser.TryParse(Bytes.Sequence("250 " + new string('x', 5000) + " queued as 4Late\r\n"), out _));
    }

    [Fact]
    public void TryParse_ReplySplitAcrossSegments_FindsTheId()
    {
        var raw = Bytes.Segments("250-2.0.0 Ok\r\n250 2.0.0 Ok: que", "ued as 4Sp", "lit\r\n");

        Assert.True(QueueIdParser.TryParse(raw, out var id));
        Assert.Equal("4Split", id);
    }

    [Theory]
    [InlineData(250, true)]
    [InlineData(251, true)]
    [InlineData(451, false)]
    [InlineData(554, false)]
    public void TryGetQueueId_OnlyAPositiveCompletionNamesAQueuedMessage(int code, bool expected)
    {
        var raw = Bytes.Sequence(code + " Ok: queued as 4Xyz\r\n");

        Assert.Equal(expected, new SmtpReply(code, raw, 1).TryGetQueueId(out var id));
        Assert.Equal(expected ? "4Xyz" : string.Empty, id);
        Assert.Equal(expected, SmtpReply.TryGetQueueId(code, new ReadOnlySequence<byte>(Bytes.Of(code + " Ok: queued as 4Xyz\r\n")), out _));
    }
}
