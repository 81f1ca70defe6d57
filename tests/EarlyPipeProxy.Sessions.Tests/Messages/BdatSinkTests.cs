using System.Globalization;
using System.Text;
using EarlyPipeProxy.Sessions.Messages;
using EarlyPipeProxy.Sessions.Outbound;
using EarlyPipeProxy.Sessions.Tests.TestSupport;

namespace EarlyPipeProxy.Sessions.Tests.Messages;

public sealed class BdatSinkTests
{
    private const string Stuffed = "..a\r\nb\r\n..\r\n...x\r\n\r\nend.\r\n.\r\n";
    private const string Unstuffed = ".a\r\nb\r\n.\r\n..x\r\n\r\nend.\r\n";

    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(3);

    /// <summary>The chunks on the wire: each "BDAT n [LAST]" and its n octets; anything else fails.</summary>
    private static List<(string Data, bool Last)> ParseChunks(string wire)
    {
        var chunks = new List<(string, bool)>();
        var i = 0;
        while (i < wire.Length)
        {
            var eol = wire.IndexOf("\r\n", i, StringComparison.Ordinal);
            Assert.True(eol > i, "no BDAT command line at " + i);
            var words = wire[i..eol].Split(' ');
            Assert.Equal("BDAT", words[0]);
            Assert.True(words.Length == 2 || (words.Length == 3 && words[2] == "LAST"), wire[i..eol]);
            var size = int.Parse(words[1], CultureInfo.InvariantCulture);
            Assert.True(eol + 2 + size <= wire.Length, "chunk shorter than announced");
            chunks.Add((wire.Substring(eol + 2, size), words.Length == 3));
            i = eol + 2 + size;
        }

        return chunks;
    }

    public static TheoryData<int> Splits()
    {
        var data = new TheoryData<int>();
        for (var split = 0; split <= Stuffed.Length; split++)
        {
            data.Add(split);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Splits))]
    public async Task A_small_dot_stuffed_body_split_anywhere_leaves_as_one_unstuffed_last_chunk(int split)
    {
        await using var peer = new DownstreamPair();
        await using var remote = await UpstreamPair.ConnectAsync();
        var sink = new BdatSink(remote.Channel);

        var outcome = await MessageBodyReaderTests.ReadSplitAsync(peer, sink, Stuffed, split);
        await remote.Channel.FlushAsync();

        Assert.Equal(MessageBodyOutcome.Complete, outcome);
        var chunks = ParseChunks(remote.TakeReceived());
        Assert.Equal([(Unstuffed, true)], chunks);
        Assert.Equal(1, sink.Chunks);
    }

    [Fact]
    public async Task An_empty_body_is_BDAT_0_LAST()
    {
        await using var peer = new DownstreamPair();
        await using var remote = await UpstreamPair.ConnectAsync();
        var sink = new BdatSink(remote.Channel);

        await MessageBodyReaderTests.ReadSplitAsync(peer, sink, ".\r\n", 3);
        await remote.Channel.FlushAsync();

        Assert.Equal("BDAT 0 LAST\r\n", remote.TakeReceived());
        Assert.Equal(1, sink.Chunks);
    }

    private static string LargeBody(int lines)
    {
        var body = new StringBuilder();
        for (var i = 0; i < lines; i++)
        {
            body.Append(CultureInfo.InvariantCulture, $"..line {i:D6} {new string((char)('a' + (i % 26)), 60)}\r\n");
        }

        return body.ToString();
    }

    /// <summary>Sends the body in pieces of <paramref name="piece"/> octets, each once the channel waits, and reads it.</summary>
    private static async Task<MessageBodyOutcome> SendInPiecesAsync(DownstreamPair peer, IMessageBodySink sink, string body, int piece)
    {
        await peer.SendAsync(body[..piece]);
        var sender = Task.Run(async () =>
        {
            for (var at = piece; at < body.Length; at += piece)
            {
                await peer.WaitForSettleAsync();
                await peer.SendAsync(body[at..Math.Min(body.Length, at + piece)]);
            }
        });
        var outcome = await Task.Run(() => MessageBodyReader.ReadAsync(peer.Channel, sink, Timeout, peer.Record).AsTask()).WaitAsync(TimeSpan.FromSeconds(30));
        await sender.WaitAsync(Wire.Patience);
        return outcome;
    }

    [Fact]
    public async Task A_large_body_leaves_in_chunks_of_at_least_64_KiB_streamed_as_it_comes()
    {
        await using var peer = new DownstreamPair();
        await using var remote = await UpstreamPair.ConnectAsync();
        var sink = new BdatSink(remote.Channel);
        var lines = LargeBody(4000);
        var body = lines + ".\r\n";

        var outcome = await SendInPiecesAsync(peer, sink, body, 4096);
        var beforeLast = remote.TakeReceived();
        await remote.Channel.FlushAsync();
        var wire = beforeLast + remote.TakeReceived();

        Assert.Equal(MessageBodyOutcome.Complete, outcome);
        var chunks = ParseChunks(wire);
        Assert.True(chunks.Count >= 4, $"{chunks.Count} chunks");
        Assert.Equal(chunks.Count, sink.Chunks);
        Assert.All(chunks[..^1], chunk => Assert.False(chunk.Last));
        Assert.All(chunks[..^1], chunk => Assert.InRange(chunk.Data.Length, 64 * 1024, (64 * 1024) + 4096));
        Assert.True(chunks[^1].Last);
        Assert.Equal(lines.Replace("\r\n..", "\r\n.", StringComparison.Ordinal)[1..], string.Concat(chunks.Select(c => c.Data)));

        // The full chunks streamed before the end of the message.
        Assert.StartsWith("BDAT 6", beforeLast, StringComparison.Ordinal);
        Assert.Equal(body.Length, peer.Record.BytesFromPeer);
    }

    [Fact]
    public async Task A_refused_body_aborts_the_remote_and_no_last_chunk_ever_leaves()
    {
        await using var peer = new DownstreamPair();
        await using var remote = await UpstreamPair.ConnectAsync();
        var sink = new BdatSink(remote.Channel);
        var body = LargeBody(2000) + "smuggled\n.\r\nMAIL FROM:<evil>\r\n.\r\n";

        var outcome = await SendInPiecesAsync(peer, sink, body, 4096);

        Assert.Equal(MessageBodyOutcome.Refused, outcome);
        Assert.Equal(1, remote.Aborts);
        Assert.True(remote.Channel.IsClosed);
        var chunks = ParseChunks(remote.TakeReceived());
        Assert.NotEmpty(chunks);
        Assert.All(chunks, chunk => Assert.False(chunk.Last));
        Assert.DoesNotContain("smuggled", string.Concat(chunks.Select(c => c.Data)), StringComparison.Ordinal);
    }
}
