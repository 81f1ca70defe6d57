using System.Buffers;
using EarlyPipeProxy.Protocol.Data;
using EarlyPipeProxy.Protocol.Tests.TestSupport;

namespace EarlyPipeProxy.Protocol.Tests.Data;

public sealed class BdatChunkTests
{
    [Fact]
    public void Take_BufferShorterThanChunk_TakesAllAndReducesRemaining()
    {
        long remaining = 100;

        var chunk = BdatChunk.Take(Bytes.Sequence("0123456789"), ref remaining);

        Assert.Equal("0123456789", Bytes.Text(chunk));
        Assert.Equal(90, remaining);
    }

    [Fact]
    public void Take_BufferLongerThanChunk_TakesExactlyRemaining()
    {
        long remaining = 4;

        var chunk = BdatChunk.Take(Bytes.Sequence("abcdQUIT\r\n"), ref remaining);

        Assert.Equal("abcd", Bytes.Text(chunk));
        Assert.Equal(0, remaining);
    }

    [Fact]
    public void Take_BufferEqualToChunk_TakesAll()
    {
        long remaining = 3;

        var chunk = BdatChunk.Take(Bytes.Sequence("a\r\n"), ref remaining);

        Assert.Equal("a\r\n", Bytes.Text(chunk));
        Assert.Equal(0, remaining);
    }

    [Fact]
    public void Take_NothingRemaining_TakesNothing()
    {
        long remaining = 0;

        var chunk = BdatChunk.Take(Bytes.Sequence("MAIL FROM:<>\r\n"), ref remaining);

        Assert.True(chunk.IsEmpty);
        Assert.Equal(0, remaining);
    }

    [Fact]
    public void Take_EmptyBuffer_LeavesRemaining()
    {
        long remaining = 7;

        var chunk = BdatChunk.Take(ReadOnlySequence<byte>.Empty, ref remaining);

        Assert.True(chunk.IsEmpty);
        Assert.Equal(7, remaining);
    }

    [Fact]
    public void Take_ChunkBodyWithLineEndingsAndDots_IsNotInterpreted()
    {
        long remaining = 8;

        var chunk = BdatChunk.Take(Bytes.Sequence("\r\n.\r\n\n.\nRSET\r\n"), ref remaining);

        Assert.Equal("\r\n.\r\n\n.\n", Bytes.Text(chunk));
    }

    [Fact]
    public void Take_MultiSegmentBuffer_SliceEndsInsideLaterSegment()
    {
        long remaining = 5;
        var buffer = Bytes.Segments("ab", "cd", "efgh");

        var chunk = BdatChunk.Take(buffer, ref remaining);

        Assert.Equal("abcde", Bytes.Text(chunk));
        Assert.Equal(buffer.Start, chunk.Start);
        Assert.Equal("fgh", Bytes.Text(buffer.Slice(chunk.End)));
    }

    [Fact]
    public void Take_RepeatedOverReads_ConsumesExactlyTheChunk()
    {
        const string Stream = "0123456789abcdefRSET\r\n";
        long remaining = 16;
        var taken = new List<string>();
        var offset = 0;
        foreach (var readSize in new[] { 3, 5, 7, 9 })
        {
            var buffer = Bytes.Sequence(Stream.Substring(offset, Math.Min(readSize, Stream.Length - offset)));
            var chunk = BdatChunk.Take(buffer, ref remaining);
            taken.Add(Bytes.Text(chunk));
            offset += (int)chunk.Length;
        }

        Assert.Equal(["012", "34567", "89abcde", "f"], taken);
        Assert.Equal(0, remaining);
        Assert.Equal("RSET\r\n", Stream[offset..]);
    }

    [Fact]
    public void Take_NegativeRemaining_Throws()
    {
        long remaining = -1;

        Assert.Throws<ArgumentOutOfRangeException>(() => BdatChunk.Take(Bytes.Sequence("x"), ref remaining));
    }
}
