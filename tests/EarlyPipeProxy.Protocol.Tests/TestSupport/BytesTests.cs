namespace EarlyPipeProxy.Protocol.Tests.TestSupport;

/// <summary>The helper itself must build what the other tests think it builds.</summary>
public sealed class BytesTests
{
    [Fact]
    public void SplitAt_Cuts_ProducesSegmentsWithSameContent()
    {
        var sequence = Bytes.SplitAt("abcdef", 0, 2, 2, 5);

        Assert.False(sequence.IsSingleSegment);
        Assert.Equal("abcdef", Bytes.Text(sequence));
        Assert.Equal(6, sequence.Length);
    }

    [Fact]
    public void OneBytePerSegment_Text_EachSegmentHoldsOneByte()
    {
        var sequence = Bytes.OneBytePerSegment("abc");

        var segments = 0;
        foreach (var memory in sequence)
        {
            Assert.Equal(1, memory.Length);
            segments++;
        }

        Assert.Equal(3, segments);
    }
}
