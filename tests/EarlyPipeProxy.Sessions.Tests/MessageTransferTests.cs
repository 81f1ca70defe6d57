using EarlyPipeProxy.Sessions.Tests.TestSupport;

namespace EarlyPipeProxy.Sessions.Tests;

/// <summary>DATA and BDAT: relayed whole, or not ended at all.</summary>
public sealed class MessageTransferTests
{
    [Fact]
    public async Task RelayBody_ClientDisconnectsMidData_AbortsBackendWithoutEndOfData()
    {
        // Arrange
        await using var harness = new SessionHarness(FakeBackendOptions.Lockstep());
        await harness.StartUpToDataAsync();
        var backend = await harness.BackendAsync();
        await harness.Client.SendAsync("Subject: test\r\n\r\npartial line\r\n");
        await backend.WaitForReceivedAsync("partial line\r\n");

        // Act
        harness.Client.Disconnect();
        await harness.WaitForEndAsync();

        // Assert
        Assert.True(await backend.SessionClosed.WaitAsync(Wire.Patience), "the backend connection must be reset");
        await backend.Completion.WaitAsync(Wire.Patience);
        Assert.Empty(backend.Messages);
        Assert.DoesNotContain("\r\n.\r\n", backend.ReceivedText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RelayChunk_ClientDisconnectsMidBdat_AbortsBackendWithoutTheChunk()
    {
        // Arrange
        await using var harness = new SessionHarness(FakeBackendOptions.Lockstep("CHUNKING"));
        await harness.StartUpToRecipientAsync();
        var backend = await harness.BackendAsync();
        await harness.Client.SendAsync("BDAT 100 LAST\r\n" + new string('x', 40));
        await backend.WaitForReceivedAsync(new string('x', 40));

        // Act
        harness.Client.Disconnect();
        await harness.WaitForEndAsync();

        // Assert
        Assert.True(await backend.SessionClosed.WaitAsync(Wire.Patience), "the backend connection must be reset");
        await backend.Completion.WaitAsync(Wire.Patience);
        Assert.Empty(backend.Chunks);
    }

    [Fact]
    public async Task RelayChunk_ChunkWithDotLinesAndBareLineEndings_RelaysItVerbatimByByteCount()
    {
        // Arrange
        await using var harness = new SessionHarness(FakeBackendOptions.Lockstep("CHUNKING"));
        await harness.StartUpToRecipientAsync();
        const string first = "Subject: test\r\n\r\nline\n.\nbare LF\r\n.\r\n";
        const string last = "MAIL FROM:<x@y>\r\nbare CR\rend\r\n";

        // Act
        await harness.Client.SendAsync($"BDAT {first.Length}\r\n{first}BDAT {last.Length} LAST\r\n{last}QUIT\r\n");
        var firstReply = await harness.Client.ReadReplyAsync();
        var lastReply = await harness.Client.ReadReplyAsync();
        var quit = await harness.Client.ReadReplyAsync();
        await harness.WaitForEndAsync();

        // Assert
        Assert.Equal([$"250 2.0.0 Ok: {first.Length} octets received"], firstReply);
        Assert.Equal(["250 2.0.0 Ok: queued as 1"], lastReply);
        Assert.Equal(["221 2.0.0 Bye"], quit);
        var backend = await harness.BackendAsync();
        Assert.True(backend.Violations.Count == 0, backend.Describe());
        Assert.Equal([first, last], backend.Chunks);
        Assert.Equal(
            ["EHLO client.example", HarnessExtensions.Sender, HarnessExtensions.Recipient, $"BDAT {first.Length}", $"BDAT {last.Length} LAST", "QUIT"],
            backend.CommandLines);
    }

    [Fact]
    public async Task RelayChunk_PipeliningBackend_SendsChunksAsOneGroup()
    {
        // Arrange
        await using var harness = new SessionHarness(FakeBackendOptions.Pipelining("CHUNKING"));
        await harness.StartUpToRecipientAsync();

        // Act
        await harness.Client.SendAsync("BDAT 5\r\n12345BDAT 3 LAST\r\n\r\n.");
        var first = await harness.Client.ReadReplyAsync();
        var last = await harness.Client.ReadReplyAsync();

        // Assert
        Assert.Equal(["250 2.0.0 Ok: 5 octets received"], first);
        Assert.Equal(["250 2.0.0 Ok: queued as 1"], last);
        var backend = await harness.BackendAsync();
        Assert.Equal(["12345", "\r\n."], backend.Chunks);
        Assert.Equal([false, true], backend.Commands.Skip(3).Select(c => c.ArrivedWithPrevious));
    }

    [Fact]
    public async Task BdatAsync_MalformedSize_Replies501AndRelaysNothingOfIt()
    {
        // Arrange
        await using var harness = new SessionHarness(FakeBackendOptions.Lockstep("CHUNKING"));
        await harness.StartUpToRecipientAsync();

        // Act
        await harness.Client.SendAsync("BDAT +5 LAST\r\nhello");
        var everything = await harness.Client.ReadToEndAsync();
        await harness.WaitForEndAsync();

        // Assert
        Assert.Equal("501 5.5.4 Syntax: BDAT chunk-size [LAST]\r\n", everything);
        var backend = await harness.BackendAsync();
        await backend.Completion.WaitAsync(Wire.Patience);
        Assert.True(!backend.ReceivedText.Contains("BDAT", StringComparison.Ordinal), backend.Describe());
    }

    [Fact]
    public async Task DataAsync_BodySentBeforeThe354_Replies554AndNeverSendsData()
    {
        // Arrange
        await using var harness = new SessionHarness(FakeBackendOptions.Lockstep());

        // Act
        await harness.StartAndEhloAsync();
        await harness.Client.SendAsync($"{HarnessExtensions.Sender}\r\n{HarnessExtensions.Recipient}\r\nDATA\r\nSubject: test\r\n\r\nbody\r\n.\r\n");
        var mail = await harness.Client.ReadReplyAsync();
        var rcpt = await harness.Client.ReadReplyAsync();
        var rest = await harness.Client.ReadToEndAsync();
        await harness.WaitForEndAsync();

        // Assert
        Assert.Equal(["250 2.1.0 Ok"], mail);
        Assert.Equal(["250 2.1.5 Ok"], rcpt);
        Assert.Equal("554 5.5.0 SMTP synchronization error\r\n", rest);
        var backend = await harness.BackendAsync();
        await backend.Completion.WaitAsync(Wire.Patience);
        Assert.Equal(["EHLO client.example", HarnessExtensions.Sender, HarnessExtensions.Recipient], backend.CommandLines);
        Assert.DoesNotContain("Subject", backend.ReceivedText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_PipelinedRecipientRejected_RelaysEachVerdictInOrder()
    {
        // Arrange
        var script = FakeBackendOptions.Pipelining();
        script.Rejections["nobody@example.net"] = "550 5.1.1 <nobody@example.net>: Recipient address rejected: User unknown";
        await using var harness = new SessionHarness(script);
        await harness.Client.SendAsync(
            $"{SessionHarness.ClientEhlo}\r\n{HarnessExtensions.Sender}\r\nRCPT TO:<nobody@example.net>\r\n{HarnessExtensions.Recipient}\r\nDATA\r\n");

        // Act
        harness.Start();
        var replies = new List<string[]>();
        for (var i = 0; i < 6; i++)
        {
            replies.Add(await harness.Client.ReadReplyAsync());
        }

        // Assert
        Assert.Equal(["250 2.1.0 Ok"], replies[2]);
        Assert.Equal(["550 5.1.1 <nobody@example.net>: Recipient address rejected: User unknown"], replies[3]);
        Assert.Equal(["250 2.1.5 Ok"], replies[4]);
        Assert.Equal(["354 End data with <CR><LF>.<CR><LF>"], replies[5]);
    }
}
