using EarlyPipeProxy.Sessions.Tests.TestSupport;

namespace EarlyPipeProxy.Sessions.Tests;

/// <summary>Command lines the proxy answers itself: too long, badly ended, or not for the client to send.</summary>
public sealed class CommandLineTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task CommandLoop_LineLongerThanMaxLineLength_Replies500AndGoesOn(bool splitAcrossWrites)
    {
        // Arrange
        await using var harness = new SessionHarness(FakeBackendOptions.Lockstep(), o => o.Limits.MaxLineLength = 100);
        await harness.StartAndEhloAsync();
        var longLine = "NOOP " + new string('x', 300) + "\r\n";

        // Act
        if (splitAcrossWrites)
        {
            await harness.Client.SendAsync(longLine[..150]);
            await Task.Delay(50);
            await harness.Client.SendAsync(longLine[150..]);
        }
        else
        {
            await harness.Client.SendAsync(longLine);
        }

        await harness.Client.SendAsync("MAIL FROM:<alice@example.org>\r\n");
        var tooLong = await harness.Client.ReadReplyAsync();
        var mail = await harness.Client.ReadReplyAsync();

        // Assert
        Assert.Equal(["500 5.5.2 Line too long"], tooLong);
        Assert.Equal(["250 2.1.0 Ok"], mail);
        var backend = await harness.BackendAsync();
        Assert.Equal(["EHLO client.example", "MAIL FROM:<alice@example.org>"], backend.CommandLines);
        Assert.DoesNotContain("xxx", backend.ReceivedText, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("MAIL FROM:<alice@example.org>\n")]
    [InlineData("MAIL FROM:<alice@example.org>\rRCPT TO:<bob@example.net>\r\n")]
    public async Task CommandLoop_BareLineEndingInCommand_Replies500AndRelaysNothingOfIt(string badLine)
    {
        // Arrange
        await using var harness = new SessionHarness(FakeBackendOptions.Lockstep());
        await harness.StartAndEhloAsync();

        // Act
        await harness.Client.SendAsync(badLine + "NOOP\r\n");
        var bad = await harness.Client.ReadReplyAsync();
        var noop = await harness.Client.ReadReplyAsync();

        // Assert
        Assert.Equal(["500 5.5.2 Error: bare <CR> or <LF> in command line"], bad);
        Assert.Equal(["250 2.0.0 Ok"], noop);
        var backend = await harness.BackendAsync();
        Assert.Equal(["EHLO client.example", "NOOP"], backend.CommandLines);
        Assert.DoesNotContain("alice", backend.ReceivedText, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("XCLIENT ADDR=192.0.2.1", "550 5.7.0 Error: insufficient authorization")]
    [InlineData("xforward ADDR=192.0.2.1", "550 5.7.0 Error: insufficient authorization")]
    [InlineData("STARTTLS", "454 4.7.0 TLS not available")]
    public async Task ExecuteAsync_CommandTheProxyMustNotRelay_RepliesLocallyAndRelaysNothingOfIt(string command, string expected)
    {
        // Arrange
        var script = FakeBackendOptions.Pipelining("XCLIENT NAME ADDR PORT", "XFORWARD NAME ADDR", "STARTTLS");
        await using var harness = new SessionHarness(script);
        await harness.StartAndEhloAsync();

        // Act
        await harness.Client.SendAsync($"MAIL FROM:<alice@example.org>\r\n{command}\r\nNOOP\r\n");
        var mail = await harness.Client.ReadReplyAsync();
        var local = await harness.Client.ReadReplyAsync();
        var noop = await harness.Client.ReadReplyAsync();

        // Assert
        Assert.Equal(["250 2.1.0 Ok"], mail);
        Assert.Equal([expected], local);
        Assert.Equal(["250 2.0.0 Ok"], noop);
        var backend = await harness.BackendAsync();
        Assert.Equal(["EHLO client.example", "MAIL FROM:<alice@example.org>", "NOOP"], backend.CommandLines);
        Assert.True(backend.Violations.Count == 0, backend.Describe());
    }

    [Fact]
    public async Task CommandLoop_ClientIdleWithNothingBuffered_Replies421AfterCommandTimeout()
    {
        // Arrange
        await using var harness = new SessionHarness(FakeBackendOptions.Lockstep(), o => o.Timeouts.Command = TimeSpan.FromSeconds(1));
        await harness.StartAndEhloAsync();

        // Act
        var everything = await harness.Client.ReadToEndAsync();
        await harness.WaitForEndAsync();

        // Assert
        Assert.Equal("421 4.4.2 Error: timeout exceeded\r\n", everything);
    }

    [Fact]
    public async Task CommandLoop_ClientIdleAfterPartialCommand_Replies421AfterCommandTimeout()
    {
        // Arrange
        await using var harness = new SessionHarness(FakeBackendOptions.Lockstep(), o => o.Timeouts.Command = TimeSpan.FromSeconds(1));
        await harness.StartAndEhloAsync();

        // Act: a line without its CRLF, then silence (slowloris, or a TCP segment boundary).
        await harness.Client.SendAsync("NOOP");
        var everything = await harness.Client.ReadToEndAsync();
        await harness.WaitForEndAsync();

        // Assert
        Assert.Equal("421 4.4.2 Error: timeout exceeded\r\n", everything);
    }

    [Fact]
    public async Task CommandLoop_PipelinedRepliesThenPartialCommand_FlushesOwedRepliesBeforeWaiting()
    {
        // Arrange
        await using var harness = new SessionHarness(FakeBackendOptions.Pipelining());
        await harness.StartAndEhloAsync();

        // Act: the replies to MAIL and RCPT are owed while the next line is still incomplete.
        await harness.Client.SendAsync("MAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@example.net>\r\nDA");
        var mail = await harness.Client.ReadReplyAsync();
        var rcpt = await harness.Client.ReadReplyAsync();

        // Assert
        Assert.Equal(["250 2.1.0 Ok"], mail);
        Assert.Equal(["250 2.1.5 Ok"], rcpt);
    }

    [Fact]
    public async Task CommandLoop_AuthLineLongerThanMaxLineLength_IsRelayedUpToMaxAuthLineLength()
    {
        // Arrange
        await using var harness = new SessionHarness(FakeBackendOptions.Lockstep("AUTH PLAIN"), o =>
        {
            o.Limits.MaxLineLength = 100;
            o.AllowCleartextAuth = true;
        });
        await harness.StartAndEhloAsync();
        var initialResponse = new string('A', 2000);

        // Act
        await harness.Client.SendAsync($"AUTH PLAIN {initialResponse}\r\n");
        var reply = await harness.Client.ReadReplyAsync();

        // Assert
        Assert.Equal(["334 VXNlcm5hbWU6"], reply);
        var backend = await harness.BackendAsync();
        Assert.Equal($"AUTH PLAIN {initialResponse}", backend.CommandLines[^1]);
    }
}
