using EarlyPipeProxy.Sessions.Tests.TestSupport;

namespace EarlyPipeProxy.Sessions.Tests;

/// <summary>Graceful shutdown: 421 4.3.2 between transactions, never in the middle of one.</summary>
public sealed class ShutdownTests
{
    private const string ShuttingDown = "421 4.3.2 Service shutting down\r\n";

    [Fact]
    public async Task RunAsync_CloseRequestedWhileIdleBetweenTransactions_Replies421AndEnds()
    {
        // Arrange
        await using var harness = new SessionHarness(FakeBackendOptions.Lockstep());
        await harness.StartAndEhloAsync();

        // Act
        harness.RequestClose();
        var everything = await harness.Client.ReadToEndAsync();
        await harness.WaitForEndAsync();

        // Assert
        Assert.Equal(ShuttingDown, everything);
        var backend = await harness.BackendAsync();
        Assert.False(await backend.SessionClosed.WaitAsync(Wire.Patience), "nothing was under way: the backend is closed politely");
    }

    [Fact]
    public async Task RunAsync_CloseRequestedDuringData_CompletesTheMessageThenReplies421()
    {
        // Arrange
        await using var harness = new SessionHarness(FakeBackendOptions.Lockstep());
        await harness.StartUpToDataAsync();
        await harness.Client.SendAsync("Subject: test\r\n\r\nfirst part\r\n");

        // Act
        harness.RequestClose();
        var quietDuringData = await harness.Client.IsQuietAsync(TimeSpan.FromMilliseconds(150));
        await harness.Client.SendAsync("second part\r\n.\r\n");
        var endOfData = await harness.Client.ReadReplyAsync();
        var rest = await harness.Client.ReadToEndAsync();
        await harness.WaitForEndAsync();

        // Assert
        Assert.True(quietDuringData, "no 421 in the middle of a message");
        Assert.Equal(["250 2.0.0 Ok: queued as 1"], endOfData);
        Assert.Equal(ShuttingDown, rest);
        var backend = await harness.BackendAsync();
        Assert.Equal(["Subject: test\r\n\r\nfirst part\r\nsecond part\r\n"], backend.Messages);
    }

    [Fact]
    public async Task RunAsync_CloseRequestedAfterMail_WaitsForTheTransactionToEnd()
    {
        // Arrange
        await using var harness = new SessionHarness(FakeBackendOptions.Lockstep());
        await harness.StartAndEhloAsync();
        await harness.Client.SendAsync("MAIL FROM:<alice@example.org>\r\n");
        Assert.Equal(["250 2.1.0 Ok"], await harness.Client.ReadReplyAsync());

        // Act
        harness.RequestClose();
        var quietInTransaction = await harness.Client.IsQuietAsync(TimeSpan.FromMilliseconds(150));
        await harness.Client.SendAsync("RCPT TO:<bob@example.net>\r\nDATA\r\n");
        var rcpt = await harness.Client.ReadReplyAsync();
        var data = await harness.Client.ReadReplyAsync();
        await harness.Client.SendAsync("Hello\r\n.\r\n");
        var endOfData = await harness.Client.ReadReplyAsync();
        var rest = await harness.Client.ReadToEndAsync();

        // Assert
        Assert.True(quietInTransaction, "no 421 in the middle of a transaction");
        Assert.Equal(["250 2.1.5 Ok"], rcpt);
        Assert.Equal(["354 End data with <CR><LF>.<CR><LF>"], data);
        Assert.Equal(["250 2.0.0 Ok: queued as 1"], endOfData);
        Assert.Equal(ShuttingDown, rest);
    }
}
