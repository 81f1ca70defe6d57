using EarlyPipeProxy.Sessions.EhloCache;
using EarlyPipeProxy.Sessions.Tests.TestSupport;
using static EarlyPipeProxy.Sessions.Tests.TestSupport.HarnessExtensions;

namespace EarlyPipeProxy.Sessions.Tests.Outbound;

/// <summary>How a session ends: the sender's QUIT, the remote's 421, or a remote that cannot be reached.</summary>
public sealed class OutboundSessionEndTests
{
    private const string RemoteUnavailable = "421 4.4.2 Service not available: remote server connection failed";
    private const string Carol = "RCPT TO:<carol@example.net>";

    [Fact]
    public async Task Quit_AfterAMessage_AnsweredHereAndRemoteGetsQuit()
    {
        // Arrange: the remote's own goodbye is distinctive, so the sender's 221 is seen to be the proxy's.
        var remote = FakeBackendOptions.Pipelining();
        remote.VerbReplies["QUIT"] = "221 2.0.0 fake.backend closing connection";
        await using var harness = new OutboundSessionHarness(remote);
        await harness.StartTransactionAsync(FakeBackendOptions.FinalBannerLine, Recipient);
        await harness.SendMessageAsync("Subject: test\r\n\r\nHello.\r\n");

        // Act
        await harness.QuitAsync();

        // Assert
        var backend = await harness.RemoteAsync();
        Assert.Equal([OutboundSessionHarness.SenderEhlo, Sender, Recipient, "DATA", "QUIT"], backend.CommandLines);
        Assert.False(await backend.SessionClosed.WaitAsync(Wire.Patience), "after QUIT the connection ends politely");
    }

    [Fact]
    public async Task Quit_RemoteNeverAnswersIt_SenderHasItsByeAtOnce()
    {
        // Arrange
        var remote = FakeBackendOptions.Pipelining();
        remote.StallOn = "QUIT";
        await using var harness = new OutboundSessionHarness(remote);
        await harness.StartAndReadBannerAsync(FakeBackendOptions.FinalBannerLine);
        await harness.CommandAsync(OutboundSessionHarness.SenderEhlo);

        // Act
        var bye = await harness.CommandAsync("QUIT");

        // Assert
        Assert.Equal(["221 2.0.0 Bye"], bye);
        var backend = await harness.RemoteAsync();
        await backend.WaitForReceivedAsync("QUIT\r\n");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Remote421_ToARecipient_IsRelayedAndEndsTheSession(bool pipelining)
    {
        // Arrange: toward a pipelining remote the RCPT reply is collected only when the proxy would wait for the
        // sender's next command, which it then must not wait for.
        var remote = pipelining ? FakeBackendOptions.Pipelining() : FakeBackendOptions.Lockstep();
        remote.Rejections["carol@example.net"] = "421 4.7.0 fake.backend Error: too many errors";
        await using var harness = new OutboundSessionHarness(remote);

        // Act
        var rcpt = await harness.StartTransactionAsync(FakeBackendOptions.FinalBannerLine, Recipient, Carol);
        await harness.WaitForEndAsync();

        // Assert
        Assert.Equal([["250 2.1.5 Ok"], ["421 4.7.0 fake.backend Error: too many errors"]], rcpt);
        Assert.Equal(string.Empty, await harness.Client.ReadToEndAsync());
        var backend = await harness.RemoteAsync();
        Assert.True(backend.Violations.Count == 0, harness.Describe());
        Assert.Equal([OutboundSessionHarness.SenderEhlo, Sender, Recipient, Carol], backend.CommandLines.Take(4));
        Assert.DoesNotContain("DATA", backend.CommandLines);
    }

    [Fact]
    public async Task Remote421_ToTheEarlyFlightsMail_AnswersTheRecipientAndEndsTheSession()
    {
        // Arrange: the remote refuses MAIL with 421 and still answers the RCPT that came with it.
        var remote = FakeBackendOptions.EarlyPipelining();
        remote.Rejections["alice@example.org"] = "421 4.3.2 fake.backend System shutting down";
        await using var harness = new OutboundSessionHarness(remote);
        harness.SeedCache();

        // Act
        var rcpt = await harness.StartTransactionAsync(OutboundSessionHarness.LocalBanner, Recipient);
        await harness.WaitForEndAsync();

        // Assert
        Assert.Equal([["421 4.3.2 fake.backend System shutting down"]], rcpt);
        Assert.Equal(string.Empty, await harness.Client.ReadToEndAsync());
        Assert.Equal(1, harness.Connector.Attempts);
        Assert.Equal(1, harness.Cache.Counters.Flushes(EhloCacheFlushReason.TransientRejection));
    }

    [Fact]
    public async Task RemoteUnreachable_CacheMiss_SenderGets421AtOnce()
    {
        // Arrange
        await using var harness = new OutboundSessionHarness(FakeBackendOptions.Lockstep());
        harness.Connector.Unreachable = true;

        // Act
        await harness.StartAndReadBannerAsync(RemoteUnavailable);
        await harness.WaitForEndAsync();

        // Assert
        Assert.Equal(string.Empty, await harness.Client.ReadToEndAsync());
        Assert.Equal(1, harness.Connector.Attempts);
    }

    [Fact]
    public async Task RemoteUnreachable_CacheHit_SenderGets421AtItsFirstRecipient()
    {
        // Arrange
        await using var harness = new OutboundSessionHarness(FakeBackendOptions.EarlyPipelining());
        harness.SeedCache();
        harness.Connector.Unreachable = true;

        // Act
        var rcpt = await harness.StartTransactionAsync(OutboundSessionHarness.LocalBanner, Recipient);
        await harness.WaitForEndAsync();

        // Assert: the early flight and its lockstep redo both failed to connect.
        Assert.Equal([[RemoteUnavailable]], rcpt);
        Assert.Equal(string.Empty, await harness.Client.ReadToEndAsync());
        Assert.Equal(2, harness.Connector.Attempts);
        Assert.Equal(1, harness.Cache.Counters.Flushes(EhloCacheFlushReason.ConnectionFailed));
    }

    [Fact]
    public async Task RemoteUnreachable_CacheHitWithPipelinedRecipients_EveryRecipientGets421()
    {
        // Arrange: the sender uses the PIPELINING it was offered.
        await using var harness = new OutboundSessionHarness(FakeBackendOptions.EarlyPipelining());
        harness.SeedCache();
        harness.Connector.Unreachable = true;
        await harness.StartTransactionAsync(OutboundSessionHarness.LocalBanner);

        // Act
        await harness.Client.SendAsync($"{Recipient}\r\n{Carol}\r\n");
        string[][] replies = [await harness.Client.ReadReplyAsync(), await harness.Client.ReadReplyAsync()];
        await harness.WaitForEndAsync();

        // Assert
        Assert.Equal([[RemoteUnavailable], [RemoteUnavailable]], replies);
        Assert.Equal(string.Empty, await harness.Client.ReadToEndAsync());
    }
}
