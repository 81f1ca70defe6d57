using EarlyPipeProxy.Sessions.Tests.TestSupport;

namespace EarlyPipeProxy.Sessions.Tests.Inbound;

/// <summary>
/// The reply to the end of a message is what the client waits for: it reaches the client as soon as the backend gives
/// it, not together with the reply to a command pipelined behind the message (Exim's QUIT goes in the body's write).
/// The backend here never answers that QUIT, so a verdict held for it would not arrive at all within the test's patience.
/// </summary>
public sealed class VerdictFlushTests
{
    [Fact]
    public async Task DataAsync_QuitPipelinedBehindTheBody_VerdictArrivesBeforeTheQuitIsAnswered()
    {
        // Arrange
        var script = FakeBackendOptions.Pipelining();
        script.StallOn = "QUIT";
        await using var harness = new SessionHarness(script, options => options.Timeouts.BackendReply = TimeSpan.FromSeconds(60));
        await harness.StartUpToDataAsync();
        var backend = await harness.BackendAsync();

        // Act
        await harness.Client.SendAsync("Subject: test\r\n\r\nbody\r\n.\r\nQUIT\r\n");
        var verdict = await harness.Client.ReadReplyAsync();

        // Assert
        Assert.Equal(["250 2.0.0 Ok: queued as 1"], verdict);
        await backend.WaitForReceivedAsync("QUIT\r\n");
        Assert.Single(backend.Messages);
    }

    [Fact]
    public async Task BdatAsync_QuitPipelinedBehindTheLastChunk_VerdictArrivesBeforeTheQuitIsAnswered()
    {
        // Arrange
        var script = FakeBackendOptions.Pipelining("CHUNKING");
        script.StallOn = "QUIT";
        await using var harness = new SessionHarness(script, options => options.Timeouts.BackendReply = TimeSpan.FromSeconds(60));
        await harness.StartUpToRecipientAsync();
        const string chunk = "Subject: test\r\n\r\nbody\r\n";

        // Act
        await harness.Client.SendAsync($"BDAT {chunk.Length} LAST\r\n{chunk}QUIT\r\n");
        var verdict = await harness.Client.ReadReplyAsync();

        // Assert
        Assert.Equal(["250 2.0.0 Ok: queued as 1"], verdict);
        var backend = await harness.BackendAsync();
        await backend.WaitForReceivedAsync("QUIT\r\n");
        Assert.Equal([chunk], backend.Chunks);
    }
}
