using EarlyPipeProxy.Sessions.EhloCache;
using EarlyPipeProxy.Sessions.Tests.TestSupport;
using static EarlyPipeProxy.Sessions.Tests.TestSupport.HarnessExtensions;

namespace EarlyPipeProxy.Sessions.Tests.Outbound;

/// <summary>MAIL acknowledged here and RCPT answered by the remote, and what their refusals do to the cache entry.</summary>
public sealed class OutboundTransactionTests
{
    private const string Body = "Subject: test\r\n\r\nHello.\r\n";
    private const string MailRefusal = "550 5.7.1 <alice@example.org>: Sender address rejected: Access denied";
    private const string Carol = "RCPT TO:<carol@example.net>";
    private const string CarolRefusal = "550 5.1.1 <carol@example.net>: Recipient address rejected: User unknown in local recipient table";

    [Fact]
    public async Task CacheHit_RemoteRefusesMail_SenderLearnsItAtRcptAndDataAndEntryIsFlushed()
    {
        // Arrange
        var remote = FakeBackendOptions.EarlyPipelining();
        remote.Rejections["alice@example.org"] = MailRefusal;
        await using var harness = new OutboundSessionHarness(remote);
        harness.SeedCache();

        // Act: MAIL was acknowledged here; its refusal is the answer to every later command of the transaction.
        var rcpt = await harness.StartTransactionAsync(OutboundSessionHarness.LocalBanner, Recipient, Carol);
        var data = await harness.CommandAsync("DATA");
        await harness.QuitAsync();

        // Assert
        Assert.Equal([[MailRefusal], [MailRefusal]], rcpt);
        Assert.Equal([MailRefusal], data);
        var backend = await harness.RemoteAsync();
        Assert.Equal([OutboundSessionHarness.SenderEhlo, Sender, Recipient, "QUIT"], backend.CommandLines);
        Assert.Empty(backend.Messages);
        Assert.False(harness.IsCached, "a 5xx in an early transaction flushes the entry");
        Assert.Equal(1, harness.Cache.Counters.Flushes(EhloCacheFlushReason.PermanentRejection));
    }

    [Fact]
    public async Task CacheMiss_PipeliningRemoteRefusesMail_RcptGetsTheRefusalAndTheLearntEntryStays()
    {
        // Arrange: no early flight, so the refusal says nothing about early pipelining.
        var remote = FakeBackendOptions.Pipelining("PIPECONNECT");
        remote.Rejections["alice@example.org"] = MailRefusal;
        await using var harness = new OutboundSessionHarness(remote);

        // Act
        var rcpt = await harness.StartTransactionAsync(FakeBackendOptions.FinalBannerLine, Recipient);
        await harness.QuitAsync();

        // Assert
        Assert.Equal([[MailRefusal]], rcpt);
        var backend = await harness.RemoteAsync();
        Assert.True(backend.Violations.Count == 0, harness.Describe());
        Assert.Equal([OutboundSessionHarness.SenderEhlo, Sender, Recipient, "QUIT"], backend.CommandLines);
        Assert.True(harness.IsCached);
        Assert.Equal(0, harness.Cache.Counters.TotalFlushes);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task CacheHit_OneOfTwoRecipientsRefused_MessageGoesToTheOtherAndEntryFollowsTheRejectionRule(bool keepOnPermanentRejection)
    {
        // Arrange
        var remote = FakeBackendOptions.EarlyPipelining();
        remote.Rejections["carol@example.net"] = CarolRefusal;
        await using var harness = new OutboundSessionHarness(remote, new EhloCacheOptions { KeepOnPermanentRejection = keepOnPermanentRejection });
        harness.SeedCache();

        // Act
        var rcpt = await harness.StartTransactionAsync(OutboundSessionHarness.LocalBanner, Recipient, Carol);
        var final = await harness.SendMessageAsync(Body);
        await harness.QuitAsync();

        // Assert
        Assert.Equal([["250 2.1.5 Ok"], [CarolRefusal]], rcpt);
        Assert.Equal(["250 2.0.0 Ok: queued as 1"], final);
        var backend = await harness.RemoteAsync();
        Assert.True(backend.Violations.Count == 0, harness.Describe());
        Assert.Equal([OutboundSessionHarness.SenderEhlo, Sender, Recipient, Carol, "DATA", "QUIT"], backend.CommandLines);
        Assert.Equal([Body], backend.Messages);
        Assert.Equal(keepOnPermanentRejection, harness.IsCached);
        Assert.Equal(keepOnPermanentRejection ? 0 : 1, harness.Cache.Counters.Flushes(EhloCacheFlushReason.PermanentRejection));
    }
}
