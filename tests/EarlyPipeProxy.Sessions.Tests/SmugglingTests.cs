using EarlyPipeProxy.Sessions.Tests.TestSupport;

namespace EarlyPipeProxy.Sessions.Tests;

/// <summary>SMTP smuggling: no line ending but CRLF may end a message at the backend, and no byte is rewritten.</summary>
public sealed class SmugglingTests
{
    private const string Smuggled = "MAIL FROM:<smuggled@evil.example>\r\nRCPT TO:<victim@example.net>\r\nDATA\r\n\r\nsmuggled body";
    private const string BareLineEndingReply = "550 5.5.2 Error: bare <CR>, <LF> or NUL in message data; message not delivered";

    [Theory]
    [InlineData("\n.\n")]
    [InlineData("\n.\r\n")]
    [InlineData("\r.\r\n")]
    [InlineData("\r\n.\n")]
    [InlineData("\r\n\0.\r\n")]
    public async Task RelayBody_FakeTerminatorFollowedBySmuggledCommands_AbortsBackendAndReplies550AfterRealEnd(string fakeTerminator)
    {
        // Arrange
        await using var harness = new SessionHarness(FakeBackendOptions.Lockstep());
        await harness.StartUpToDataAsync();
        var backend = await harness.BackendAsync();

        // Act
        await harness.Client.SendAsync("Subject: test\r\n\r\nHello" + fakeTerminator + Smuggled);
        var aborted = await backend.SessionClosed.WaitAsync(Wire.Patience);
        var quietBeforeRealEnd = await harness.Client.IsQuietAsync(TimeSpan.FromMilliseconds(150));
        await harness.Client.SendAsync("\r\n.\r\n");
        var reply = await harness.Client.ReadReplyAsync();
        var rest = await harness.Client.ReadToEndAsync();
        await harness.WaitForEndAsync();

        // Assert
        Assert.True(aborted, "the backend connection must be reset, never closed politely");
        Assert.True(quietBeforeRealEnd, "the verdict must come after the client's real end of data");
        Assert.Equal([BareLineEndingReply], reply);
        Assert.Equal(string.Empty, rest);
        await backend.Completion.WaitAsync(Wire.Patience);
        Assert.True(backend.Messages.Count == 0, backend.Describe());
        Assert.Equal(["EHLO client.example", HarnessExtensions.Sender, HarnessExtensions.Recipient, "DATA"], backend.CommandLines);
        Assert.DoesNotContain("smuggled", backend.ReceivedText, StringComparison.Ordinal);
        Assert.True(backend.Violations.Count == 0, backend.Describe());
    }

    [Fact]
    public async Task RelayBody_DotStuffedAndDotLeadingLines_RelaysBytesVerbatimAsOneMessage()
    {
        // Arrange
        await using var harness = new SessionHarness(FakeBackendOptions.Lockstep());
        await harness.StartUpToDataAsync();
        const string body = "Subject: test\r\n\r\nline1\r\n..\r\n.x\r\n..stuffed\r\nend.\r\n";

        // Act
        await harness.Client.SendAsync(body + ".\r\n");
        var reply = await harness.Client.ReadReplyAsync();

        // Assert
        Assert.Equal(["250 2.0.0 Ok: queued as 1"], reply);
        var backend = await harness.BackendAsync();
        Assert.Equal([body], backend.Messages);
        Assert.Equal(["\r\n.\r\n"], backend.Terminators);
        Assert.False(backend.SessionClosed.IsCompleted, "the backend connection stays open");
    }

    [Fact]
    public async Task RelayBody_EmptyMessage_EndsAtOnce()
    {
        // Arrange
        await using var harness = new SessionHarness(FakeBackendOptions.Lockstep());
        await harness.StartUpToDataAsync();

        // Act
        await harness.Client.SendAsync(".\r\n");
        var reply = await harness.Client.ReadReplyAsync();

        // Assert
        Assert.Equal(["250 2.0.0 Ok: queued as 1"], reply);
        var backend = await harness.BackendAsync();
        Assert.Equal([string.Empty], backend.Messages);
    }

    [Fact]
    public async Task RelayBody_TerminatorSplitAcrossWrites_RelaysOneMessage()
    {
        // Arrange
        await using var harness = new SessionHarness(FakeBackendOptions.Lockstep());
        await harness.StartUpToDataAsync();

        // Act
        await harness.Client.SendAsync("Subject: test\r\n\r\nHello\r");
        await Task.Delay(50);
        await harness.Client.SendAsync("\n.");
        await Task.Delay(50);
        await harness.Client.SendAsync("\r\n");
        var reply = await harness.Client.ReadReplyAsync();

        // Assert
        Assert.Equal(["250 2.0.0 Ok: queued as 1"], reply);
        var backend = await harness.BackendAsync();
        Assert.Equal(["Subject: test\r\n\r\nHello\r\n"], backend.Messages);
    }
}
