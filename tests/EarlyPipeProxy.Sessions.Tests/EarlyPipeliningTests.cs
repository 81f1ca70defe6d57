using EarlyPipeProxy.Sessions.Telemetry;
using EarlyPipeProxy.Sessions.Configuration;
using EarlyPipeProxy.Sessions.Tests.TestSupport;

namespace EarlyPipeProxy.Sessions.Tests;

/// <summary>PIPECONNECT: commands before the banner from advertised hosts, a synchronization error from the others.</summary>
public sealed class EarlyPipeliningTests
{
    private const string EarlyCommands =
        SessionHarness.ClientEhlo + "\r\nMAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@example.net>\r\nDATA\r\n";

    [Fact]
    public async Task RunAsync_EarlyCommandsTowardLockstepBackend_RelaysEveryReplyInOrderAndMarksUsed()
    {
        // Arrange
        await using var harness = new SessionHarness(FakeBackendOptions.Lockstep());
        await harness.Client.SendAsync(EarlyCommands);

        // Act
        harness.Start();
        var banner = await harness.Client.ReadReplyAsync();
        var ehlo = await harness.Client.ReadReplyAsync();
        var mail = await harness.Client.ReadReplyAsync();
        var rcpt = await harness.Client.ReadReplyAsync();
        var data = await harness.Client.ReadReplyAsync();
        await harness.Client.SendAsync("Subject: test\r\n\r\nHello\r\n.\r\n");
        var endOfData = await harness.Client.ReadReplyAsync();
        await harness.Client.SendAsync("QUIT\r\n");
        var quit = await harness.Client.ReadReplyAsync();
        var rest = await harness.Client.ReadToEndAsync();
        await harness.WaitForEndAsync();

        // Assert
        Assert.Equal([FakeBackendOptions.FinalBannerLine], banner);
        Assert.Equal(
            [
                "250-fake.backend Hello client.example", "250-SIZE 10240000", "250-8BITMIME", "250-ENHANCEDSTATUSCODES", "250-PIPELINING", "250-PIPECONNECT",
                "250 CHUNKING",
            ],
            ehlo);
        Assert.Equal(["250 2.1.0 Ok"], mail);
        Assert.Equal(["250 2.1.5 Ok"], rcpt);
        Assert.Equal(["354 End data with <CR><LF>.<CR><LF>"], data);
        Assert.Equal(["250 2.0.0 Ok: queued as 1"], endOfData);
        Assert.Equal(["221 2.0.0 Bye"], quit);
        Assert.Equal(string.Empty, rest);
        Assert.Equal(EarlyPipeUse.Used, harness.Session.EarlyPipeUse);

        var backend = await harness.BackendAsync();
        Assert.True(backend.Violations.Count == 0, backend.Describe());
        Assert.Equal(["EHLO client.example", "MAIL FROM:<alice@example.org>", "RCPT TO:<bob@example.net>", "DATA", "QUIT"], backend.CommandLines);
        Assert.Equal(["Subject: test\r\n\r\nHello\r\n"], backend.Messages);
        Assert.Equal(["\r\n.\r\n"], backend.Terminators);
        Assert.False(await backend.SessionClosed, "a finished session closes the backend politely");
    }

    [Fact]
    public async Task RunAsync_EarlyCommandsTowardPipeliningBackend_SendsEhloAloneAndMailRcptDataAsOneGroup()
    {
        // Arrange
        await using var harness = new SessionHarness(FakeBackendOptions.Pipelining());
        await harness.Client.SendAsync(
            SessionHarness.ClientEhlo + "\r\nMAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@example.net>\r\nRCPT TO:<carol@example.net>\r\nDATA\r\n");

        // Act
        harness.Start();
        var replies = new List<string[]>();
        for (var i = 0; i < 6; i++)
        {
            replies.Add(await harness.Client.ReadReplyAsync());
        }

        await harness.Client.SendAsync("Hello\r\n.\r\nQUIT\r\n");
        var endOfData = await harness.Client.ReadReplyAsync();
        var quit = await harness.Client.ReadReplyAsync();
        await harness.WaitForEndAsync();

        // Assert
        Assert.Equal(
            [
                "250-fake.backend Hello client.example", "250-SIZE 10240000", "250-PIPELINING", "250-PIPECONNECT", "250-8BITMIME", "250-ENHANCEDSTATUSCODES",
                "250 CHUNKING",
            ],
            replies[1]);
        Assert.Equal(["250 2.1.0 Ok"], replies[2]);
        Assert.Equal(["250 2.1.5 Ok"], replies[3]);
        Assert.Equal(["250 2.1.5 Ok"], replies[4]);
        Assert.Equal(["354 End data with <CR><LF>.<CR><LF>"], replies[5]);
        Assert.Equal(["250 2.0.0 Ok: queued as 1"], endOfData);
        Assert.Equal(["221 2.0.0 Bye"], quit);
        Assert.Equal(EarlyPipeUse.Used, harness.Session.EarlyPipeUse);

        var backend = await harness.BackendAsync();
        Assert.True(backend.Violations.Count == 0, backend.Describe());
        var commands = backend.Commands;
        Assert.Equal(
            ["EHLO client.example", "MAIL FROM:<alice@example.org>", "RCPT TO:<bob@example.net>", "RCPT TO:<carol@example.net>", "DATA", "QUIT"],
            commands.Select(c => c.Line));

        // EHLO alone (MAIL did not come with it); MAIL, both RCPTs and DATA in one group.
        Assert.Equal([false, false, true, true, true], commands.Take(5).Select(c => c.ArrivedWithPrevious));
    }

    [Theory]
    [InlineData(ClientIdentityMode.None)]
    [InlineData(ClientIdentityMode.Xclient)]
    public async Task RunAsync_EarlyInputFromNonAdvertisedHost_Replies554AndClosesWithoutRelayingIt(ClientIdentityMode identity)
    {
        // Arrange
        await using var harness = new SessionHarness(
            FakeBackendOptions.Lockstep("XCLIENT NAME ADDR PORT PROTO HELO LOGIN"),
            o =>
            {
                o.PipeConnect.AdvertiseHosts = ["10.0.0.0/8"];
                o.Backend.ClientIdentity = identity;
            });
        await harness.Client.SendAsync(EarlyCommands);

        // Act
        harness.Start();
        var everything = await harness.Client.ReadToEndAsync();
        await harness.WaitForEndAsync();

        // Assert
        Assert.Equal("554 5.5.0 SMTP synchronization error\r\n", everything);
        Assert.Equal(EarlyPipeUse.NotAdvertised, harness.Session.EarlyPipeUse);
        var backend = await harness.BackendAsync();
        await backend.SessionClosed.WaitAsync(Wire.Patience);
        Assert.True(backend.Violations.Count == 0, backend.Describe());
        Assert.DoesNotContain("client.example", backend.ReceivedText, StringComparison.Ordinal);
        Assert.DoesNotContain("MAIL", backend.ReceivedText, StringComparison.Ordinal);
        if (identity == ClientIdentityMode.None)
        {
            Assert.Equal(string.Empty, backend.ReceivedText);
        }
    }

    [Fact]
    public async Task RunAsync_NonAdvertisedHostWaitingForBanner_IsServedWithoutPipeConnect()
    {
        // Arrange
        await using var harness = new SessionHarness(FakeBackendOptions.Lockstep(), o => o.PipeConnect.AdvertiseHosts = ["10.0.0.0/8"]);

        // Act
        var ehlo = await harness.StartAndEhloAsync();
        await harness.Client.SendAsync("MAIL FROM:<alice@example.org>\r\n");
        var mail = await harness.Client.ReadReplyAsync();
        await harness.Client.SendAsync("QUIT\r\n");
        var quit = await harness.Client.ReadReplyAsync();
        await harness.WaitForEndAsync();

        // Assert
        Assert.Equal(
            ["250-fake.backend Hello client.example", "250-SIZE 10240000", "250-8BITMIME", "250-ENHANCEDSTATUSCODES", "250-PIPELINING", "250 CHUNKING"],
            ehlo);
        Assert.Equal(["250 2.1.0 Ok"], mail);
        Assert.Equal(["221 2.0.0 Bye"], quit);
        Assert.Equal(EarlyPipeUse.NotAdvertised, harness.Session.EarlyPipeUse);
    }

    [Fact]
    public async Task RunAsync_AdvertisedHostWaitingForBanner_IsOfferedPipeConnectAndMarkedAdvertised()
    {
        // Arrange
        await using var harness = new SessionHarness(FakeBackendOptions.Lockstep(), o => o.PipeConnect.AdvertiseHosts = ["127.0.0.0/8"]);

        // Act
        var ehlo = await harness.StartAndEhloAsync();
        await harness.Client.SendAsync("QUIT\r\n");
        var quit = await harness.Client.ReadReplyAsync();
        await harness.WaitForEndAsync();

        // Assert
        Assert.Equal(["250-PIPELINING", "250-PIPECONNECT", "250 CHUNKING"], ehlo[^3..]);
        Assert.Equal(["221 2.0.0 Bye"], quit);
        Assert.Equal(EarlyPipeUse.Advertised, harness.Session.EarlyPipeUse);
    }
}
