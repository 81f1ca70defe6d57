using EarlyPipeProxy.Sessions.Telemetry;
using EarlyPipeProxy.Sessions.Tests.TestSupport;
using static EarlyPipeProxy.Sessions.Tests.TestSupport.HarnessExtensions;

namespace EarlyPipeProxy.Sessions.Tests.Outbound;

/// <summary>Banner and EHLO toward the remote: relayed and learnt without a cache entry, answered here with one.</summary>
public sealed class OutboundGreetingTests
{
    private const string Body = "Subject: test\r\n\r\nHello.\r\n";

    [Fact]
    public async Task CacheMiss_RemoteOffersPipeconnect_RelaysBannerEditsEhloAndLearnsTheReply()
    {
        // Arrange: no entry yet, so this session must wait for the banner (the remote counts early input as a violation).
        var remote = FakeBackendOptions.Pipelining("PIPECONNECT", "CHUNKING", "AUTH PLAIN LOGIN", "STARTTLS");
        await using var harness = new OutboundSessionHarness(remote);

        // Act
        await harness.StartAndReadBannerAsync(FakeBackendOptions.FinalBannerLine);
        var ehlo = await harness.CommandAsync(OutboundSessionHarness.SenderEhlo);
        await harness.QuitAsync();

        // Assert: what the proxy cannot carry end to end is not offered to the sender; AUTH is relayed, so it stays.
        Assert.Equal(
            [
                "250-fake.backend Hello sender.example", "250-SIZE 10240000", "250-PIPELINING", "250-8BITMIME", "250-ENHANCEDSTATUSCODES", "250-CHUNKING",
                "250 AUTH PLAIN LOGIN",
            ],
            ehlo);
        var backend = await harness.RemoteAsync();
        Assert.True(backend.Violations.Count == 0, harness.Describe());
        Assert.Equal([OutboundSessionHarness.SenderEhlo, "QUIT"], backend.CommandLines);
        Assert.True(harness.IsCached, "a reply that offers PIPECONNECT and PIPELINING is learnt");
        Assert.Equal(1, harness.Cache.Counters.Stored);
        Assert.Equal(EarlyPipeUse.Advertised, harness.Session.EarlyPipeUse);
    }

    [Fact]
    public async Task CacheMiss_LockstepRemote_GetsOneCommandAtATimeFromAPipeliningSender()
    {
        // Arrange
        await using var harness = new OutboundSessionHarness(FakeBackendOptions.Lockstep());
        await harness.StartAndReadBannerAsync(FakeBackendOptions.FinalBannerLine);
        var ehlo = await harness.CommandAsync(OutboundSessionHarness.SenderEhlo);

        // Act: the sender was offered PIPELINING and uses it; the remote was not.
        await harness.Client.SendAsync($"{Sender}\r\n{Recipient}\r\nRCPT TO:<carol@example.net>\r\nDATA\r\n");
        string[][] replies = [await harness.Client.ReadReplyAsync(), await harness.Client.ReadReplyAsync(), await harness.Client.ReadReplyAsync(), await harness.Client.ReadReplyAsync()];
        await harness.Client.SendAsync(Body + ".\r\n");
        var final = await harness.Client.ReadReplyAsync();
        await harness.QuitAsync();

        // Assert
        Assert.Equal(
            ["250-fake.backend Hello sender.example", "250-SIZE 10240000", "250-8BITMIME", "250-ENHANCEDSTATUSCODES", "250-PIPELINING", "250 CHUNKING"],
            ehlo);
        Assert.Equal([["250 2.1.0 Ok"], ["250 2.1.5 Ok"], ["250 2.1.5 Ok"], ["354 End data with <CR><LF>.<CR><LF>"]], replies);
        Assert.Equal(["250 2.0.0 Ok: queued as 1"], final);
        var backend = await harness.RemoteAsync();
        Assert.True(backend.Violations.Count == 0, harness.Describe());
        Assert.Equal([OutboundSessionHarness.SenderEhlo, Sender, Recipient, "RCPT TO:<carol@example.net>", "DATA", "QUIT"], backend.CommandLines);
        Assert.Equal([Body], backend.Messages);
        Assert.Equal(0, harness.Cache.Count);
        Assert.Equal(EarlyPipeUse.NotAdvertised, harness.Session.EarlyPipeUse);
    }

    [Fact]
    public async Task CacheHit_FirstRecipient_SendsEhloMailAndRcptInOneFlightBeforeTheBanner()
    {
        // Arrange: the RCPT reply is distinctive, so that the sender's copy of it is seen to be the remote's.
        var remote = FakeBackendOptions.EarlyPipelining();
        remote.Rejections["bob@example.net"] = "250 2.1.5 Ok, bob is known here";
        await using var harness = new OutboundSessionHarness(remote);
        harness.SeedCache();

        // Act: banner, EHLO and MAIL come from the proxy alone.
        await harness.StartAndReadBannerAsync(OutboundSessionHarness.LocalBanner);
        var ehlo = await harness.CommandAsync(OutboundSessionHarness.SenderEhlo);
        var mail = await harness.CommandAsync(Sender);
        var attemptsBeforeRecipient = harness.Connector.Attempts;
        var rcpt = await harness.CommandAsync(Recipient);
        var final = await harness.SendMessageAsync(Body);
        await harness.QuitAsync();

        // Assert
        Assert.Equal(
            ["250-fake.backend Hello sender.example", "250-SIZE 10240000", "250-PIPELINING", "250-8BITMIME", "250-ENHANCEDSTATUSCODES", "250 CHUNKING"],
            ehlo);
        Assert.Equal(["250 2.1.0 Ok"], mail);
        Assert.Equal(0, attemptsBeforeRecipient);
        Assert.Equal(["250 2.1.5 Ok, bob is known here"], rcpt);
        Assert.Equal(["250 2.0.0 Ok: queued as 1"], final);
        Assert.Equal(1, harness.Connector.Attempts);
        var backend = await harness.RemoteAsync();
        Assert.True(backend.Violations.Count == 0, harness.Describe());
        Assert.Equal($"{OutboundSessionHarness.SenderEhlo}\r\n{Sender}\r\n{Recipient}\r\n", backend.ReceivedBeforeGreeting);
        Assert.Equal([OutboundSessionHarness.SenderEhlo, Sender, Recipient, "DATA", "QUIT"], backend.CommandLines);
        Assert.Equal([Body], backend.Messages);
        Assert.Equal(EarlyPipeUse.Used, harness.Session.EarlyPipeUse);
        Assert.True(harness.IsCached, "an early transaction without errors keeps the entry");
        Assert.Equal(1, harness.Cache.Counters.Confirmations);
    }

    [Fact]
    public async Task CacheHit_SenderQuitsWithoutATransaction_RemoteIsNeverContacted()
    {
        // Arrange
        await using var harness = new OutboundSessionHarness(FakeBackendOptions.EarlyPipelining());
        harness.SeedCache();
        await harness.StartAndReadBannerAsync(OutboundSessionHarness.LocalBanner);
        await harness.CommandAsync(OutboundSessionHarness.SenderEhlo);

        // Act
        await harness.QuitAsync();

        // Assert
        Assert.Equal(0, harness.Connector.Attempts);
    }
}
