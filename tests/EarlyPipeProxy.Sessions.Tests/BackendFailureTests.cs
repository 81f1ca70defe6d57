using System.Diagnostics;
using EarlyPipeProxy.Sessions.Tests.TestSupport;

namespace EarlyPipeProxy.Sessions.Tests;

/// <summary>A backend that goes away, stalls or cannot be reached: one 421 per command still owed a reply, then EOF.</summary>
public sealed class BackendFailureTests
{
    private const string Unavailable = "421 4.4.2 Service not available: backend connection failed\r\n";
    private const string PipelinedTransaction = "MAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@example.net>\r\nRCPT TO:<carol@example.net>\r\nDATA\r\n";

    [Fact]
    public async Task RunAsync_BackendClosesWithPipelinedCommandsPending_Replies421PerPendingCommandThenEof()
    {
        // Arrange
        var script = FakeBackendOptions.Pipelining();
        script.CloseOn = "MAIL";
        await using var harness = new SessionHarness(script);
        await harness.StartAndEhloAsync();

        // Act
        await harness.Client.SendAsync(PipelinedTransaction);
        var everything = await harness.Client.ReadToEndAsync();
        await harness.WaitForEndAsync();

        // Assert
        Assert.Equal(Unavailable + Unavailable + Unavailable + Unavailable, everything);
    }

    [Fact]
    public async Task RunAsync_BackendStallsWithPipelinedCommandsPending_Replies421PerPendingCommandAfterReplyTimeout()
    {
        // Arrange
        var script = FakeBackendOptions.Pipelining();
        script.StallOn = "RCPT";
        await using var harness = new SessionHarness(script, o => o.Timeouts.BackendReply = TimeSpan.FromMilliseconds(300));
        await harness.StartAndEhloAsync();
        var clock = Stopwatch.StartNew();

        // Act
        await harness.Client.SendAsync(PipelinedTransaction);
        var everything = await harness.Client.ReadToEndAsync();
        await harness.WaitForEndAsync();

        // Assert
        Assert.Equal("250 2.1.0 Ok\r\n" + Unavailable + Unavailable + Unavailable, everything);
        Assert.InRange(clock.Elapsed, TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(2.5));
        var backend = await harness.BackendAsync();
        Assert.True(await backend.SessionClosed, "a backend that failed is reset");
    }

    [Fact]
    public async Task RunAsync_LockstepBackendClosesOnRcpt_Replies421ForTheCommandItOwedThenEof()
    {
        // Arrange
        var script = FakeBackendOptions.Lockstep();
        script.CloseOn = "RCPT";
        await using var harness = new SessionHarness(script);
        await harness.StartAndEhloAsync();

        // Act
        await harness.Client.SendAsync("MAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@example.net>\r\nDATA\r\n");
        var everything = await harness.Client.ReadToEndAsync();
        await harness.WaitForEndAsync();

        // Assert
        Assert.Equal("250 2.1.0 Ok\r\n" + Unavailable, everything);
    }

    [Fact]
    public async Task RunAsync_BackendClosesMidData_Replies421AtEndOfDataThenEof()
    {
        // Arrange
        var script = FakeBackendOptions.Lockstep();
        script.CloseAfterBodyBytes = 10;
        await using var harness = new SessionHarness(script);
        await harness.StartUpToDataAsync();
        var backend = await harness.BackendAsync();

        // Act
        await harness.Client.SendAsync("Subject: test\r\n\r\nfirst part of the body\r\n");
        await backend.Completion.WaitAsync(Wire.Patience);
        await harness.Client.SendAsync("second part\r\n.\r\n");
        var everything = await harness.Client.ReadToEndAsync();
        await harness.WaitForEndAsync();

        // Assert
        Assert.Equal(Unavailable, everything);
        Assert.Empty(backend.Messages);
    }

    [Fact]
    public async Task RunAsync_BackendReplies451_RelaysItAndGoesOn()
    {
        // Arrange
        var script = FakeBackendOptions.Lockstep();
        script.Fail451On = "RCPT";
        await using var harness = new SessionHarness(script);
        await harness.StartAndEhloAsync();

        // Act
        await harness.Client.SendAsync("MAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@example.net>\r\nRSET\r\nQUIT\r\n");
        var everything = await harness.Client.ReadToEndAsync();
        await harness.WaitForEndAsync();

        // Assert
        Assert.Equal("250 2.1.0 Ok\r\n451 4.3.0 Error: queue file write error\r\n250 2.0.0 Ok\r\n221 2.0.0 Bye\r\n", everything);
    }

    [Fact]
    public async Task RunAsync_BackendUnreachable_Greets421AndCloses()
    {
        // Arrange
        await using var harness = new SessionHarness();
        harness.Connector.Unreachable = true;
        await harness.Client.SendAsync(SessionHarness.ClientEhlo + "\r\n");

        // Act
        harness.Start();
        var everything = await harness.Client.ReadToEndAsync();
        await harness.WaitForEndAsync();

        // Assert
        Assert.Equal(Unavailable, everything);
        Assert.Equal(1, harness.Connector.Attempts);
        Assert.Equal("127.0.0.1:2525", harness.Connector.EndPoints.Single().ToString());
    }

    [Fact]
    public async Task RunAsync_BackendNeverGreets_Greets421AfterBannerTimeout()
    {
        // Arrange
        var script = FakeBackendOptions.Lockstep();
        script.NeverGreet = true;
        await using var harness = new SessionHarness(script, o => o.Timeouts.Banner = TimeSpan.FromMilliseconds(300));
        await harness.Client.SendAsync(SessionHarness.ClientEhlo + "\r\n");

        // Act
        harness.Start();
        var everything = await harness.Client.ReadToEndAsync();
        await harness.WaitForEndAsync();

        // Assert
        Assert.Equal(Unavailable, everything);
        var backend = await harness.BackendAsync();
        Assert.Equal(string.Empty, backend.ReceivedText);
    }
}
