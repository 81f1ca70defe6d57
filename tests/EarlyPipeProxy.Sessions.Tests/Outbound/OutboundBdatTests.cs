using EarlyPipeProxy.Sessions.Tests.TestSupport;
using static EarlyPipeProxy.Sessions.Tests.TestSupport.HarnessExtensions;

namespace EarlyPipeProxy.Sessions.Tests.Outbound;

/// <summary>
/// BDAT from the sender (CHUNKING is offered to it): relayed as BDAT to a remote with CHUNKING, octet for octet; as DATA,
/// dot-stuffed under DATA's smuggling rules, to one without, BDAT LAST answered with the remote's verdict.
/// </summary>
public sealed class OutboundBdatTests
{
    private const string BareLineEndingReply = "550 5.5.2 Error: bare <CR>, <LF> or NUL in message data; message not delivered";

    [Fact]
    public async Task ChunkingRemote_ChunksRelayedAsBdatOctetForOctet_EachAnsweredByTheRemote()
    {
        // Arrange
        var remote = FakeBackendOptions.EarlyPipelining("CHUNKING");
        await using var harness = new OutboundSessionHarness(remote);
        harness.SeedCache();
        const string first = "Subject: x\r\n\r\n.dot\r\nbare LF\nstays\r\n";
        const string last = "last\r\n";
        await harness.StartTransactionAsync(OutboundSessionHarness.LocalBanner, Recipient);

        // Act
        await harness.Client.SendAsync($"BDAT {first.Length}\r\n{first}");
        var firstReply = await harness.Client.ReadReplyAsync();
        await harness.Client.SendAsync($"BDAT {last.Length} LAST\r\n{last}");
        var lastReply = await harness.Client.ReadReplyAsync();
        await harness.QuitAsync();

        // Assert
        Assert.Equal([$"250 2.0.0 Ok: {first.Length} octets received"], firstReply);
        Assert.Equal(["250 2.0.0 Ok: queued as 1"], lastReply);
        var backend = await harness.RemoteAsync();
        Assert.True(backend.Violations.Count == 0, harness.Describe());
        Assert.Equal([first, last], backend.Chunks);
        Assert.Equal(
            [OutboundSessionHarness.SenderEhlo, Sender, Recipient, $"BDAT {first.Length}", $"BDAT {last.Length} LAST", "QUIT"],
            backend.CommandLines);
    }

    [Fact]
    public async Task RemoteWithoutChunking_SenderIsOfferedChunkingAndTheMessageArrivesAsStuffedData()
    {
        // Arrange
        await using var harness = new OutboundSessionHarness(FakeBackendOptions.EarlyPipelining());
        harness.SeedCache();
        const string first = ".leading dot\r\nSubject: dots\r\n\r\n";
        const string last = "..\r\n.\r\nlast line without end";
        await harness.StartAndReadBannerAsync(OutboundSessionHarness.LocalBanner);
        var ehlo = await harness.CommandAsync(OutboundSessionHarness.SenderEhlo);
        Assert.Equal(["250 2.1.0 Ok"], await harness.CommandAsync(Sender));
        Assert.Equal(["250 2.1.5 Ok"], await harness.CommandAsync(Recipient));

        // Act
        await harness.Client.SendAsync($"BDAT {first.Length}\r\n{first}BDAT {last.Length} LAST\r\n{last}");
        var firstReply = await harness.Client.ReadReplyAsync();
        var lastReply = await harness.Client.ReadReplyAsync();
        await harness.QuitAsync();

        // Assert
        Assert.Contains(ehlo, line => line.EndsWith("CHUNKING", StringComparison.Ordinal));
        Assert.Equal([$"250 2.0.0 {first.Length} octets received"], firstReply);
        Assert.Equal(["250 2.0.0 Ok: queued as 1"], lastReply);
        var backend = await harness.RemoteAsync();
        Assert.True(backend.Violations.Count == 0, harness.Describe());
        Assert.Equal([OutboundSessionHarness.SenderEhlo, Sender, Recipient, "DATA", "QUIT"], backend.CommandLines);
        Assert.Equal(["..leading dot\r\nSubject: dots\r\n\r\n...\r\n..\r\nlast line without end\r\n"], backend.Messages);
        Assert.Equal(["\r\n.\r\n"], backend.Terminators);
    }

    [Fact]
    public async Task RemoteWithoutChunking_BareLineFeedInAChunk_Refused550AndTheRemoteNeverSeesAnEndOfData()
    {
        // Arrange
        await using var harness = new OutboundSessionHarness(FakeBackendOptions.EarlyPipelining());
        harness.SeedCache();
        const string chunk = "Subject: x\r\n\r\nline\n.\nMAIL FROM:<evil@x>\r\n";
        await harness.StartTransactionAsync(OutboundSessionHarness.LocalBanner, Recipient);

        // Act
        await harness.Client.SendAsync($"BDAT {chunk.Length} LAST\r\n{chunk}");
        var everything = await harness.Client.ReadToEndAsync();
        await harness.WaitForEndAsync();

        // Assert
        Assert.Equal(BareLineEndingReply + "\r\n", everything);
        var backend = await harness.RemoteAsync();
        Assert.True(await backend.SessionClosed.WaitAsync(Wire.Patience), "the remote connection must be reset");
        await backend.Completion.WaitAsync(Wire.Patience);
        Assert.Empty(backend.Messages);
        Assert.DoesNotContain("evil", backend.ReceivedText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RemoteWithoutChunking_QuitBetweenChunks_221AndTheRemoteIsResetWithoutAnEndOfData()
    {
        // Arrange
        await using var harness = new OutboundSessionHarness(FakeBackendOptions.EarlyPipelining());
        harness.SeedCache();
        await harness.StartTransactionAsync(OutboundSessionHarness.LocalBanner, Recipient);
        await harness.Client.SendAsync("BDAT 7\r\nhello\r\n");
        var first = await harness.Client.ReadReplyAsync();
        var backend = await harness.RemoteAsync();
        await backend.WaitForReceivedAsync("hello\r\n");

        // Act
        var mail = await harness.CommandAsync("MAIL FROM:<a@b.example>");
        var quit = await harness.CommandAsync("QUIT");
        await harness.WaitForEndAsync();

        // Assert
        Assert.Equal(["250 2.0.0 7 octets received"], first);
        Assert.Equal(["503 5.5.1 Error: BDAT expected, a chunked message is in progress"], mail);
        Assert.Equal(["221 2.0.0 Bye"], quit);
        Assert.True(await backend.SessionClosed.WaitAsync(Wire.Patience), "the remote connection must be reset");
        await backend.Completion.WaitAsync(Wire.Patience);
        Assert.Empty(backend.Messages);
        Assert.DoesNotContain("QUIT", backend.ReceivedText, StringComparison.Ordinal);
        Assert.DoesNotContain("a@b.example", backend.ReceivedText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BinaryMimeToARemoteWithoutIt_555AndTheMailNeverLeaves()
    {
        // Arrange
        await using var harness = new OutboundSessionHarness(FakeBackendOptions.Pipelining());
        await harness.StartAndReadBannerAsync(FakeBackendOptions.FinalBannerLine);
        var ehlo = await harness.CommandAsync(OutboundSessionHarness.SenderEhlo);

        // Act
        var mail = await harness.CommandAsync("MAIL FROM:<a@example.org> BODY=BINARYMIME");
        await harness.QuitAsync();

        // Assert
        Assert.DoesNotContain(ehlo, line => line.EndsWith("BINARYMIME", StringComparison.Ordinal));
        Assert.Equal(["555 5.5.4 Error: BODY=BINARYMIME not supported by the server behind this proxy"], mail);
        var backend = await harness.RemoteAsync();
        Assert.DoesNotContain(backend.CommandLines, line => line.StartsWith("MAIL", StringComparison.Ordinal));
    }
}
