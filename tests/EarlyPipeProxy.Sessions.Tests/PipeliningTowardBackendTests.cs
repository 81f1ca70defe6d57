using EarlyPipeProxy.Sessions.Tests.TestSupport;

namespace EarlyPipeProxy.Sessions.Tests;

/// <summary>How client pipelining is passed on: RFC 2920 groups to a PIPELINING backend, one at a time otherwise.</summary>
public sealed class PipeliningTowardBackendTests
{
    [Fact]
    public async Task SendAsync_MaxPipelinedCommandsReached_SplitsTheGroup()
    {
        // Arrange
        await using var harness = new SessionHarness(FakeBackendOptions.Pipelining(), o => o.Limits.MaxPipelinedCommands = 2);
        await harness.StartAndEhloAsync();

        // Act
        await harness.Client.SendAsync("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nRCPT TO:<c@example.net>\r\nRCPT TO:<d@example.net>\r\nDATA\r\n");
        var replies = new List<string[]>();
        for (var i = 0; i < 5; i++)
        {
            replies.Add(await harness.Client.ReadReplyAsync());
        }

        // Assert
        Assert.Equal(["354 End data with <CR><LF>.<CR><LF>"], replies[4]);
        var backend = await harness.BackendAsync();
        Assert.Equal([false, true, false, true, false], backend.Commands.Skip(1).Select(c => c.ArrivedWithPrevious));
    }

    [Fact]
    public async Task SendAsync_AfterHelo_SendsOneCommandAtATimeEvenToPipeliningBackend()
    {
        // Arrange
        await using var harness = new SessionHarness(FakeBackendOptions.Pipelining());
        await harness.StartAndReadBannerAsync();

        // Act
        await harness.Client.SendAsync("HELO client.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nNOOP\r\n");
        var replies = new List<string[]>();
        for (var i = 0; i < 4; i++)
        {
            replies.Add(await harness.Client.ReadReplyAsync());
        }

        // Assert
        Assert.Equal(["250 fake.backend"], replies[0]);
        Assert.Equal(["250 2.0.0 Ok"], replies[3]);
        var backend = await harness.BackendAsync();
        Assert.Equal([false, false, false, false], backend.Commands.Select(c => c.ArrivedWithPrevious));
    }

    [Fact]
    public async Task RunAsync_NextTransactionPipelinedAfterEndOfData_LockstepBackendGetsOneAtATime()
    {
        // Arrange
        await using var harness = new SessionHarness(FakeBackendOptions.Lockstep());
        await harness.StartUpToDataAsync();

        // Act
        await harness.Client.SendAsync("first\r\n.\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\nsecond\r\n.\r\nQUIT\r\n");
        var everything = await harness.Client.ReadToEndAsync();
        await harness.WaitForEndAsync();

        // Assert
        Assert.Equal(
            "250 2.0.0 Ok: queued as 1\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n554 5.5.0 SMTP synchronization error\r\n",
            everything);
        var backend = await harness.BackendAsync();
        Assert.True(backend.Violations.Count == 0, backend.Describe());
        Assert.Equal(["first\r\n"], backend.Messages);
    }

    [Fact]
    public async Task RelayBody_LargeBodyWithDotLines_RelaysItVerbatim()
    {
        // Arrange
        await using var harness = new SessionHarness(FakeBackendOptions.Pipelining());
        await harness.StartUpToDataAsync();
        var body = new System.Text.StringBuilder("Subject: big\r\n\r\n");
        for (var i = 0; i < 20000; i++)
        {
            body.Append(i % 7 == 0 ? ".." : i % 11 == 0 ? "." : string.Empty).Append("line ").Append(i).Append("\r\n");
        }

        var text = body.ToString();

        // Act
        var send = Task.Run(async () =>
        {
            for (var offset = 0; offset < text.Length; offset += 1000)
            {
                await harness.Client.SendAsync(text.Substring(offset, Math.Min(1000, text.Length - offset)));
            }

            await harness.Client.SendAsync(".\r\n");
        });
        var reply = await harness.Client.ReadReplyAsync();
        await send;

        // Assert
        Assert.Equal(["250 2.0.0 Ok: queued as 1"], reply);
        var backend = await harness.BackendAsync();
        Assert.Equal(text, Assert.Single(backend.Messages));
    }
}
