using EarlyPipeProxy.Sessions.Configuration;
using EarlyPipeProxy.Sessions.Telemetry;
using EarlyPipeProxy.Sessions.Tests.TestSupport;
using static EarlyPipeProxy.Sessions.Tests.TestSupport.HarnessExtensions;

namespace EarlyPipeProxy.Sessions.Tests.Outbound;

/// <summary>
/// Warm connections (ConnectionCache): a sender session's clean remote connection is reset and parked, and the next
/// session to that remote sends its MAIL and RCPT over it, without connect, banner or EHLO. A parked connection that is
/// stale (closed, RSET refused, 421) is replaced by a fresh one without the sender noticing, and a message is never
/// sent twice: a remote lost after the end of data gets the sender its 421, never a retry.
/// </summary>
public sealed class OutboundWarmConnectionTests
{
    private const string Body = "Subject: test\r\n\r\nHello.\r\n";
    private const string SecondBody = "Subject: second\r\n\r\nAgain.\r\n";
    private const string Carol = "RCPT TO:<carol@example.net>";

    private static readonly Action<OutboundListenerOptions> WarmOn = options => options.ConnectionCache.Enabled = true;

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task NextSession_TakesTheParkedConnection_WithoutConnectBannerOrEhlo(bool pipelining)
    {
        // Arrange: a remote without early pipelining (no EHLO cache entry); a lockstep one records any command that
        // does not wait for the previous reply, the RSET's included.
        using var metrics = new ProxyMetrics();
        using var meter = new ConnectionCacheMeter(metrics);
        var remote = pipelining ? FakeBackendOptions.Pipelining() : FakeBackendOptions.Lockstep();
        await using var first = new OutboundSessionHarness(remote, configure: WarmOn, metrics: metrics);
        await first.StartTransactionAsync(FakeBackendOptions.FinalBannerLine, Recipient);
        Assert.Equal(["250 2.0.0 Ok: queued as 1"], await first.SendMessageAsync(Body));
        await first.QuitAsync();
        Assert.Equal(1, first.Listener.WarmConnections.Count);

        // Act: the next sender session, greeted by the proxy from the parked connection's live EHLO reply.
        await using var second = new OutboundSessionHarness(after: first, metrics: metrics);
        var rcpt = await second.StartTransactionAsync(OutboundSessionHarness.LocalBanner, Carol);
        var final = await second.SendMessageAsync(SecondBody);
        await second.QuitAsync();

        // Assert: one connection, both messages, RSET between them and none of connect, banner or EHLO again.
        Assert.Equal([["250 2.1.5 Ok"]], rcpt);
        Assert.Equal(["250 2.0.0 Ok: queued as 2"], final);
        Assert.Equal(1, first.Connector.Attempts);
        var backend = await first.RemoteAsync();
        await WaitForCommandsAsync(backend, 9);
        Assert.True(backend.Violations.Count == 0, second.Describe());
        Assert.Equal(
            [OutboundSessionHarness.SenderEhlo, Sender, Recipient, "DATA", "RSET", Sender, Carol, "DATA", "RSET"],
            backend.CommandLines);
        Assert.Equal([Body, SecondBody], backend.Messages);
        Assert.Contains(first.Log.Lines, line => line.Contains(" W=parked ", StringComparison.Ordinal));
        Assert.Contains(second.Log.Lines, line => line.Contains("U=127.0.0.1:2525 W=reused+parked ", StringComparison.Ordinal));
        Assert.Equal(1, second.Listener.WarmConnections.Count);
        Assert.Contains("lookups:hit", meter.Measurements);
    }

    [Fact]
    public async Task RemoteThatTakesEarlyFlights_TheLearningConnectionIsClosed_TheEarlyOneIsParkedAndReused()
    {
        // Arrange: a remote that offers PIPECONNECT, nothing cached yet.
        using var metrics = new ProxyMetrics();
        await using var first = new OutboundSessionHarness(FakeBackendOptions.EarlyPipelining(), configure: WarmOn, metrics: metrics);
        await first.StartTransactionAsync(FakeBackendOptions.FinalBannerLine, Recipient);
        await first.SendMessageAsync(Body);
        await first.QuitAsync();

        // The lockstep connection that learnt the EHLO reply ends with QUIT, so that the next one is an early flight.
        Assert.Equal(0, first.Listener.WarmConnections.Count);
        var learner = await first.RemoteAsync();
        await WaitForCommandsAsync(learner, 5);
        Assert.Equal("QUIT", learner.CommandLines[^1]);

        // Act: the second session pipelines early and is parked; the third takes its connection.
        await using var second = new OutboundSessionHarness(after: first, metrics: metrics);
        await second.StartTransactionAsync(OutboundSessionHarness.LocalBanner, Carol);
        Assert.Equal(["250 2.0.0 Ok: queued as 1"], await second.SendMessageAsync(SecondBody));
        await second.QuitAsync();
        Assert.Equal(1, second.Listener.WarmConnections.Count);
        await using var third = new OutboundSessionHarness(after: second, metrics: metrics);
        await third.StartTransactionAsync(OutboundSessionHarness.LocalBanner, Recipient);
        Assert.Equal(["250 2.0.0 Ok: queued as 2"], await third.SendMessageAsync(Body));
        await third.QuitAsync();

        // Assert: two connections for three sessions; the early one carried the second and third messages.
        Assert.Equal(2, first.Connector.Attempts);
        Assert.Equal([SecondBody, Body], first.Connector.Backends[1].Messages);
        Assert.Contains(second.Log.Lines, line => line.Contains(" L* ", StringComparison.Ordinal) && line.Contains(" W=parked ", StringComparison.Ordinal));
        Assert.Contains(third.Log.Lines, line => line.Contains(" W=reused", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ParkedConnection_ClosedByTheRemote_IsDroppedAndTheNextSessionConnectsAfresh()
    {
        // Arrange: the first connection closes instead of answering the RSET it is parked with.
        using var metrics = new ProxyMetrics();
        using var meter = new ConnectionCacheMeter(metrics);
        await using var first = new OutboundSessionHarness(FakeBackendOptions.Pipelining(), configure: WarmOn, metrics: metrics);
        var closing = FakeBackendOptions.Pipelining();
        closing.CloseOn = "RSET";
        first.Connector.FirstConnectionOptions = closing;
        await first.StartTransactionAsync(FakeBackendOptions.FinalBannerLine, Recipient);
        await first.SendMessageAsync(Body);
        await first.QuitAsync();
        await WaitUntilAsync(() => first.Listener.WarmConnections.Count == 0, first);

        // Act
        await using var second = new OutboundSessionHarness(after: first, metrics: metrics);
        var rcpt = await second.StartTransactionAsync(FakeBackendOptions.FinalBannerLine, Carol);
        var final = await second.SendMessageAsync(SecondBody);
        await second.QuitAsync();

        // Assert
        Assert.Equal([["250 2.1.5 Ok"]], rcpt);
        Assert.Equal(["250 2.0.0 Ok: queued as 1"], final);
        Assert.Equal(2, first.Connector.Attempts);
        Assert.Equal([Body], first.Connector.Backends[0].Messages);
        Assert.Equal([SecondBody], first.Connector.Backends[1].Messages);
        Assert.Contains("drops:closed", meter.Measurements);
        Assert.DoesNotContain(second.Log.Lines, line => line.Contains("W=reused", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ParkedConnection_RsetRefusedAtReuse_FreshConnectionTakesOverUnseen_MessageSentOnce()
    {
        // Arrange: the parked connection's RSET is answered only once the next session has sent MAIL and RCPT behind
        // it, and then refused: those replies are the stale connection's, never the sender's.
        using var metrics = new ProxyMetrics();
        using var meter = new ConnectionCacheMeter(metrics);
        await using var first = new OutboundSessionHarness(FakeBackendOptions.Pipelining(), configure: WarmOn, metrics: metrics);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var refusing = FakeBackendOptions.Pipelining();
        refusing.HoldResetUntil = release.Task;
        refusing.VerbReplies["RSET"] = "451 4.3.0 fake.backend Error: try again";
        first.Connector.FirstConnectionOptions = refusing;
        await first.StartTransactionAsync(FakeBackendOptions.FinalBannerLine, Recipient);
        await first.SendMessageAsync(Body);
        await first.QuitAsync();
        var stale = await first.RemoteAsync();

        // Act: the sender's RCPT waits while the warm connection's RSET is unanswered.
        await using var second = new OutboundSessionHarness(after: first, metrics: metrics);
        await second.StartAndReadBannerAsync(OutboundSessionHarness.LocalBanner);
        Assert.StartsWith("250 ", (await second.CommandAsync(OutboundSessionHarness.SenderEhlo))[^1], StringComparison.Ordinal);
        Assert.Equal(["250 2.1.0 Ok"], await second.CommandAsync(Sender));
        await second.Client.SendAsync(Carol + "\r\n");
        await stale.WaitForReceivedAsync(Carol);
        release.SetResult();
        var rcpt = await second.Client.ReadReplyAsync();
        var final = await second.SendMessageAsync(SecondBody);
        await second.QuitAsync();

        // Assert: MAIL and RCPT reached the stale connection, never DATA; the message went once, on the fresh one.
        Assert.Equal(["250 2.1.5 Ok"], rcpt);
        Assert.Equal(["250 2.0.0 Ok: queued as 1"], final);
        Assert.Equal(2, first.Connector.Attempts);
        Assert.True(await stale.SessionClosed.WaitAsync(Wire.Patience), "the stale connection is reset");
        Assert.Equal([OutboundSessionHarness.SenderEhlo, Sender, Recipient, "DATA", "RSET", Sender, Carol], stale.CommandLines);
        Assert.Equal([Body], stale.Messages);
        var fresh = first.Connector.Backends[1];
        Assert.True(fresh.Violations.Count == 0, second.Describe());
        Assert.Equal([SecondBody], fresh.Messages);
        Assert.Contains(second.Log.Lines, line => line.Contains(" W=stale", StringComparison.Ordinal));
        Assert.Contains(second.Log.Lines, line => line.Contains("stale (RSET answered 451)", StringComparison.Ordinal));
        Assert.Contains("lookups:stale", meter.Measurements);
    }

    [Fact]
    public async Task ParkedConnection_Remote421WhileParked_IsDroppedAndTheNextSessionConnectsAfresh()
    {
        // Arrange: Postfix's smtpd_timeout in small: idle a moment after the RSET's reply, the remote says 421 and closes.
        using var metrics = new ProxyMetrics();
        using var meter = new ConnectionCacheMeter(metrics);
        await using var first = new OutboundSessionHarness(FakeBackendOptions.Pipelining(), configure: WarmOn, metrics: metrics);
        var timingOut = FakeBackendOptions.Pipelining();
        timingOut.IdleTimeout = TimeSpan.FromSeconds(2.5);
        first.Connector.FirstConnectionOptions = timingOut;
        await first.StartTransactionAsync(FakeBackendOptions.FinalBannerLine, Recipient);
        await first.SendMessageAsync(Body);
        await first.QuitAsync();
        Assert.Equal(1, first.Listener.WarmConnections.Count);
        await WaitUntilAsync(() => first.Listener.WarmConnections.Count == 0, first);

        // Act
        await using var second = new OutboundSessionHarness(after: first, metrics: metrics);
        await second.StartTransactionAsync(FakeBackendOptions.FinalBannerLine, Carol);
        var final = await second.SendMessageAsync(SecondBody);
        await second.QuitAsync();

        // Assert
        Assert.Equal(["250 2.0.0 Ok: queued as 1"], final);
        Assert.Equal(2, first.Connector.Attempts);
        Assert.Equal([Body], first.Connector.Backends[0].Messages);
        Assert.Equal([SecondBody], first.Connector.Backends[1].Messages);
        Assert.Contains("drops:closing_421", meter.Measurements);
        Assert.Contains(first.Log.Lines, line => line.Contains("dropped: the remote said 421 while parked", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ParkedConnection_SecondReplyToItsRset_IsOutOfStepAndDropped()
    {
        // Arrange: the remote answers the parking RSET twice; taken, every later reply would answer the wrong command.
        using var metrics = new ProxyMetrics();
        using var meter = new ConnectionCacheMeter(metrics);
        await using var first = new OutboundSessionHarness(FakeBackendOptions.Pipelining(), configure: WarmOn, metrics: metrics);
        var twice = FakeBackendOptions.Pipelining();
        twice.VerbReplies["RSET"] = "250 2.0.0 Ok\r\n250 2.0.0 Ok again";
        first.Connector.FirstConnectionOptions = twice;
        await first.StartTransactionAsync(FakeBackendOptions.FinalBannerLine, Recipient);
        await first.SendMessageAsync(Body);
        await first.QuitAsync();
        await WaitUntilAsync(() => first.Listener.WarmConnections.Count == 0, first);

        // Act
        await using var second = new OutboundSessionHarness(after: first, metrics: metrics);
        var rcpt = await second.StartTransactionAsync(FakeBackendOptions.FinalBannerLine, Carol);
        var final = await second.SendMessageAsync(SecondBody);
        await second.QuitAsync();

        // Assert
        Assert.Equal([["250 2.1.5 Ok"]], rcpt);
        Assert.Equal(["250 2.0.0 Ok: queued as 1"], final);
        Assert.Contains("drops:out_of_step", meter.Measurements);
        Assert.True(await first.Connector.Backends[0].SessionClosed.WaitAsync(Wire.Patience), "the out-of-step connection is reset");
        Assert.Equal([SecondBody], first.Connector.Backends[1].Messages);
    }

    [Fact]
    public async Task WarmConnection_RemoteLostAfterTheEndOfData_SenderGets421_NeverARetry()
    {
        // Arrange: the remote takes the second message's end of data and closes without a verdict.
        await using var first = new OutboundSessionHarness(FakeBackendOptions.Pipelining(), configure: WarmOn);
        var dying = FakeBackendOptions.Pipelining();
        dying.CloseAtEndOfMessage = 2;
        first.Connector.FirstConnectionOptions = dying;
        await first.StartTransactionAsync(FakeBackendOptions.FinalBannerLine, Recipient);
        await first.SendMessageAsync(Body);
        await first.QuitAsync();

        // Act
        await using var second = new OutboundSessionHarness(after: first);
        await second.StartTransactionAsync(OutboundSessionHarness.LocalBanner, Carol);
        var final = await second.SendMessageAsync(SecondBody);
        await second.WaitForEndAsync();

        // Assert: the message may have been delivered, so it is the sender's to retry: no second connection.
        Assert.StartsWith("421 ", final[0], StringComparison.Ordinal);
        Assert.Equal(1, first.Connector.Attempts);
        Assert.Equal([Body, SecondBody], (await first.RemoteAsync()).Messages);
        Assert.Contains(second.Log.Lines, line => line.Contains(" W=reused ", StringComparison.Ordinal));
        Assert.Equal(0, first.Listener.WarmConnections.Count);
    }

    [Fact]
    public async Task AnotherEhloName_DoesNotTakeTheParkedConnection()
    {
        // Arrange
        await using var first = new OutboundSessionHarness(FakeBackendOptions.Pipelining(), configure: WarmOn);
        await first.StartTransactionAsync(FakeBackendOptions.FinalBannerLine, Recipient);
        await first.SendMessageAsync(Body);
        await first.QuitAsync();

        // Act: another sender's name; the parked connection was greeted with the first one's.
        await using var second = new OutboundSessionHarness(after: first);
        await second.StartAndReadBannerAsync(OutboundSessionHarness.LocalBanner);
        Assert.StartsWith("250 ", (await second.CommandAsync("EHLO other.example"))[^1], StringComparison.Ordinal);
        Assert.Equal(["250 2.1.0 Ok"], await second.CommandAsync(Sender));
        Assert.Equal(["250 2.1.5 Ok"], await second.CommandAsync(Carol));
        await second.SendMessageAsync(SecondBody);
        await second.QuitAsync();

        // Assert: a fresh connection greeted with the second name; both connections parked now.
        Assert.Equal(2, first.Connector.Attempts);
        await WaitForCommandsAsync(first.Connector.Backends[1], 5);
        Assert.Equal(["EHLO other.example", Sender, Carol, "DATA", "RSET"], first.Connector.Backends[1].CommandLines);
        Assert.Equal(2, first.Listener.WarmConnections.Count);
    }

    [Fact]
    public async Task ReloadedTlsPolicy_DoesNotInheritAConnectionParkedUnderTheOldOne()
    {
        // Arrange: a connection parked under Tls:Mode None, then a reload to Opportunistic (the remote offers no
        // STARTTLS, so a fresh connection is cleartext too: only the policy differs).
        await using var first = new OutboundSessionHarness(FakeBackendOptions.Pipelining(), configure: WarmOn);
        await first.StartTransactionAsync(FakeBackendOptions.FinalBannerLine, Recipient);
        await first.SendMessageAsync(Body);
        await first.QuitAsync();
        var reloaded = new OutboundListenerOptions
        {
            Name = first.Options.Name,
            Listen = first.Options.Listen,
            Upstream = first.Options.Upstream,
            HostName = first.Options.HostName,
            Tls = { Mode = OutboundTlsMode.Opportunistic },
            Timeouts = first.Options.Timeouts,
            ConnectionCache = { Enabled = true },
        };
        first.Listener.Apply(new OutboundListenerSettings(reloaded, senderCertificates: null));

        // Act: the remote's own banner: nothing parked is this session's.
        await using var second = new OutboundSessionHarness(after: first);
        await second.StartTransactionAsync(FakeBackendOptions.FinalBannerLine, Carol);
        await second.SendMessageAsync(SecondBody);
        await second.QuitAsync();

        // Assert: a second connection, and both parked, each under its own policy.
        Assert.Equal(2, first.Connector.Attempts);
        Assert.Equal([SecondBody], first.Connector.Backends[1].Messages);
        Assert.Equal(2, first.Listener.WarmConnections.Count);
    }

    [Theory]
    [InlineData("open transaction")]
    [InlineData("message limit")]
    [InlineData("refused message")]
    public async Task ConnectionNotClean_OrPastItsLimit_GetsQuitAsBefore(string why)
    {
        // Arrange: a transaction left open (MAIL and RCPT accepted, no DATA), a connection that carried its
        // MaxMessages, a message refused at its DATA (the remote still holds the transaction).
        var remote = FakeBackendOptions.Pipelining();
        if (why == "refused message")
        {
            remote.VerbReplies["DATA"] = "554 5.5.1 Error: no valid recipients";
        }

        await using var harness = new OutboundSessionHarness(remote, configure: options =>
        {
            options.ConnectionCache.Enabled = true;
            options.ConnectionCache.MaxMessages = why == "message limit" ? 1 : 10;
        });

        // Act
        await harness.StartTransactionAsync(FakeBackendOptions.FinalBannerLine, Recipient);
        if (why != "open transaction")
        {
            await harness.SendMessageAsync(Body);
        }

        await harness.QuitAsync();

        // Assert
        var backend = await harness.RemoteAsync();
        Assert.Equal("QUIT", backend.CommandLines[^1]);
        Assert.DoesNotContain("RSET", backend.CommandLines);
        Assert.Equal(0, harness.Listener.WarmConnections.Count);
        Assert.DoesNotContain(harness.Log.Lines, line => line.Contains(" W=", StringComparison.Ordinal));
    }

    /// <summary>The remote records a command when it reads it: the last one (the parking RSET) may still be on its way.</summary>
    private static async Task WaitForCommandsAsync(FakeBackend backend, int count)
    {
        var deadline = DateTime.UtcNow + Wire.Patience;
        while (backend.CommandLines.Count < count && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }
    }

    private static async Task WaitUntilAsync(Func<bool> condition, OutboundSessionHarness harness)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "the parked connection was never dropped\n" + harness.Describe());
            await Task.Delay(20);
        }
    }
}
