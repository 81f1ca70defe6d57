using EarlyPipeProxy.Sessions.EhloCache;
using EarlyPipeProxy.Sessions.Tests.TestSupport;
using static EarlyPipeProxy.Sessions.Tests.TestSupport.HarnessExtensions;

namespace EarlyPipeProxy.Sessions.Tests.Outbound;

/// <summary>The sender's DATA toward the remote: as BDAT chunks where it offers CHUNKING, else as DATA; never half a message.</summary>
public sealed class OutboundMessageTests
{
    private const string BareLineEndingReply = "550 5.5.2 Error: bare <CR>, <LF> or NUL in message data; message not delivered";

    [Fact]
    public async Task Data_ChunkingRemote_BodyArrivesUnstuffedInBdatChunksOfAtLeast64KiB()
    {
        // Arrange: text lines that start with dots, around a cut between two reads of the sender's input.
        var remote = FakeBackendOptions.EarlyPipelining("CHUNKING");
        await using var harness = new OutboundSessionHarness(remote);
        harness.SeedCache();
        string[] before = [".leading dot on the first line", "Subject: dots", "", "..two dots", ".", " . not at the start", .. Filler(70)];
        string[] after = [".first line of the second read", "..", "last line"];
        await harness.StartTransactionAsync(OutboundSessionHarness.LocalBanner, Recipient);
        Assert.Equal(["354 End data with <CR><LF>.<CR><LF>"], await harness.CommandAsync("DATA"));

        // Act: the first part alone exceeds a chunk, so it leaves before the second part is sent.
        await harness.Client.SendAsync(Stuffed(before));
        var backend = await harness.RemoteAsync();
        await backend.WaitForReceivedAsync("BDAT ");
        await harness.Client.SendAsync(Stuffed(after) + ".\r\n");
        var final = await harness.Client.ReadReplyAsync();
        await harness.QuitAsync();

        // Assert
        Assert.Equal(["250 2.0.0 Ok: queued as 1"], final);
        Assert.True(backend.Violations.Count == 0, harness.Describe());
        Assert.Equal(Text([.. before, .. after]), string.Concat(backend.Chunks));
        Assert.Equal(2, backend.Chunks.Count);
        Assert.True(backend.Chunks[0].Length >= 64 * 1024, $"a chunk other than the last is at least 64 KiB, not {backend.Chunks[0].Length} octets");
        Assert.Equal(
            [OutboundSessionHarness.SenderEhlo, Sender, Recipient, $"BDAT {backend.Chunks[0].Length}", $"BDAT {backend.Chunks[1].Length} LAST", "QUIT"],
            backend.CommandLines);
        Assert.Empty(backend.Messages);
    }

    [Fact]
    public async Task Data_RemoteWithoutChunking_BodyArrivesVerbatimAsSent()
    {
        // Arrange
        await using var harness = new OutboundSessionHarness(FakeBackendOptions.EarlyPipelining());
        harness.SeedCache();
        const string body = "..leading dot\r\nSubject: dots\r\n\r\n...\r\n..\r\nlast line\r\n";
        await harness.StartTransactionAsync(OutboundSessionHarness.LocalBanner, Recipient);

        // Act
        var final = await harness.SendMessageAsync(body);
        await harness.QuitAsync();

        // Assert
        Assert.Equal(["250 2.0.0 Ok: queued as 1"], final);
        var backend = await harness.RemoteAsync();
        Assert.True(backend.Violations.Count == 0, harness.Describe());
        Assert.Equal([OutboundSessionHarness.SenderEhlo, Sender, Recipient, "DATA", "QUIT"], backend.CommandLines);
        Assert.Equal([body], backend.Messages);
        Assert.Equal(["\r\n.\r\n"], backend.Terminators);
    }

    [Fact]
    public async Task Data_RemoteRefusesDataWith554_SenderEndOfDataGetsTheRefusalAndRemoteNeverSeesTheBody()
    {
        // Arrange: a remote that answers DATA with 554 reads whatever follows as commands.
        var remote = FakeBackendOptions.EarlyPipelining();
        remote.VerbReplies["DATA"] = "554 5.5.1 Error: no valid recipients";
        await using var harness = new OutboundSessionHarness(remote);
        harness.SeedCache();
        await harness.StartTransactionAsync(OutboundSessionHarness.LocalBanner, Recipient);

        // Act: the sender had its 354 from the proxy and sends the body.
        var final = await harness.SendMessageAsync("Subject: test\r\n\r\nNOOP never for the remote\r\n");
        await harness.QuitAsync();

        // Assert
        Assert.Equal(["554 5.5.1 Error: no valid recipients"], final);
        var backend = await harness.RemoteAsync();
        Assert.Equal([OutboundSessionHarness.SenderEhlo, Sender, Recipient, "DATA", "QUIT"], backend.CommandLines);
        Assert.DoesNotContain("never for the remote", backend.ReceivedText, StringComparison.Ordinal);
        Assert.Empty(backend.Messages);
        Assert.Equal(1, harness.Cache.Counters.Flushes(EhloCacheFlushReason.PermanentRejection));
    }

    [Theory]
    [InlineData("250 2.0.0 Ok")]
    [InlineData("220 mx ready")]
    [InlineData("334 VXNlcm5hbWU6")]
    public async Task Data_RemoteAnswersDataWithAnythingBut354OrARefusal_EndOfDataIsNeverA250(string dataReply)
    {
        // Arrange: a remote out of step, which answers DATA as if it were something else (issue 11 item 11).
        var remote = FakeBackendOptions.EarlyPipelining();
        remote.VerbReplies["DATA"] = dataReply;
        await using var harness = new OutboundSessionHarness(remote);
        harness.SeedCache();
        await harness.StartTransactionAsync(OutboundSessionHarness.LocalBanner, Recipient);

        // Act: the sender had its 354 from the proxy and sends the body.
        var final = await harness.SendMessageAsync("Subject: test\r\n\r\nNOOP never for the remote\r\n");
        await harness.Run.WaitAsync(Wire.Patience);

        // Assert: a temporary failure, the body never reaches the remote, and the session ends.
        Assert.Equal(["451 4.5.0 Error: remote server answered out of sequence; message not sent"], final);
        var backend = await harness.RemoteAsync();
        Assert.DoesNotContain("never for the remote", backend.ReceivedText, StringComparison.Ordinal);
        Assert.Empty(backend.Messages);
        Assert.Contains(harness.Log.Lines, l => l.Contains(" outbound H=", StringComparison.Ordinal) && l.Contains("end=\"remote refused or misbehaved\"", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Data_RemoteClosingWith421_IsTheEndOfDataAnswerAndEndsTheSession()
    {
        // Arrange: a remote that gives up at DATA (RFC 5321 §3.8: 421 means it is closing).
        var remote = FakeBackendOptions.EarlyPipelining();
        remote.VerbReplies["DATA"] = "421 4.3.0 shutting down";
        await using var harness = new OutboundSessionHarness(remote);
        harness.SeedCache();
        await harness.StartTransactionAsync(OutboundSessionHarness.LocalBanner, Recipient);

        // Act
        var final = await harness.SendMessageAsync("Subject: test\r\n\r\nbody\r\n");

        // Assert: the sender gets the remote's 421 and nothing more is waited for or sent.
        Assert.Equal(["421 4.3.0 shutting down"], final);
        await harness.Run.WaitAsync(Wire.Patience);
        Assert.Equal(string.Empty, await harness.Client.ReadToEndAsync());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Data_BareLineFeedInBody_AbortsRemoteWithoutEndOfDataAndRefusesTheMessage(bool chunking)
    {
        // Arrange: a smuggling attempt; the first lines are clean and may already be on their way.
        var remote = chunking ? FakeBackendOptions.EarlyPipelining("CHUNKING") : FakeBackendOptions.EarlyPipelining();
        await using var harness = new OutboundSessionHarness(remote);
        harness.SeedCache();
        await harness.StartTransactionAsync(OutboundSessionHarness.LocalBanner, Recipient);
        Assert.Equal(["354 End data with <CR><LF>.<CR><LF>"], await harness.CommandAsync("DATA"));
        var backend = await harness.RemoteAsync();
        await harness.Client.SendAsync("Subject: test\r\n\r\nclean line\r\n");
        if (!chunking)
        {
            await backend.WaitForReceivedAsync("clean line\r\n");
        }

        // Act
        await harness.Client.SendAsync("bare\n.\nMAIL FROM:<evil@example.org>\r\nRCPT TO:<victim@example.net>\r\nDATA\r\nforged\r\n.\r\n");
        var reply = await harness.Client.ReadReplyAsync();
        await harness.WaitForEndAsync();

        // Assert
        Assert.Equal([BareLineEndingReply], reply);
        Assert.Equal(string.Empty, await harness.Client.ReadToEndAsync());
        Assert.True(await backend.SessionClosed.WaitAsync(Wire.Patience), "the remote connection must be reset, not ended");
        await backend.Completion.WaitAsync(Wire.Patience);
        Assert.Empty(backend.Messages);
        Assert.Empty(backend.Chunks);
        Assert.DoesNotContain("\r\n.\r\n", backend.ReceivedText, StringComparison.Ordinal);
        Assert.DoesNotContain("evil", backend.ReceivedText, StringComparison.Ordinal);
        string[] expected = chunking
            ? [OutboundSessionHarness.SenderEhlo, Sender, Recipient]
            : [OutboundSessionHarness.SenderEhlo, Sender, Recipient, "DATA"];
        Assert.Equal(expected, backend.CommandLines);
    }

    /// <summary>Lines of 1,000 octets with their CRLF.</summary>
    private static IEnumerable<string> Filler(int count) =>
        Enumerable.Range(0, count).Select(i => $"{i:D4} " + new string((char)('a' + (i % 26)), 993));

    /// <summary>The message text as the sender's DATA carries it: every line that starts with "." gets one more.</summary>
    private static string Stuffed(IEnumerable<string> lines) =>
        string.Concat(lines.Select(line => (line.StartsWith('.') ? "." : string.Empty) + line + "\r\n"));

    private static string Text(IEnumerable<string> lines) => string.Concat(lines.Select(line => line + "\r\n"));
}
