using EarlyPipeProxy.Sessions.EhloCache;
using EarlyPipeProxy.Sessions.Tests.TestSupport;
using static EarlyPipeProxy.Sessions.Tests.TestSupport.HarnessExtensions;

namespace EarlyPipeProxy.Sessions.Tests.Outbound;

/// <summary>
/// An early flight that fails (bad banner, connection lost) is redone in lockstep on a new connection: the sender sees
/// nothing of the failure, the message goes once, and the cache entry is flushed.
/// </summary>
public sealed class OutboundEarlyFlightRedoTests
{
    private const string Body = "Subject: test\r\n\r\nHello.\r\n";

    [Fact]
    public async Task EarlyFlight_BannerIs554_FlushesEntryAndRedoesTheSessionInLockstep()
    {
        // Arrange: the first connection refuses with its banner; the redo meets a strictly lockstep remote, which
        // records any command that does not wait for the previous reply.
        await using var harness = new OutboundSessionHarness(FakeBackendOptions.Lockstep());
        var first = FakeBackendOptions.EarlyPipelining();
        first.Banner = ["554 5.7.1 fake.backend: no SMTP service here"];
        harness.Connector.FirstConnectionOptions = first;
        harness.SeedCache(first);

        // Act
        var rcpt = await harness.StartTransactionAsync(OutboundSessionHarness.LocalBanner, Recipient);
        var final = await harness.SendMessageAsync(Body);
        await harness.QuitAsync();

        // Assert: every reply the sender got is from the second connection (the 554 never reaches it).
        Assert.Equal([["250 2.1.5 Ok"]], rcpt);
        Assert.Equal(["250 2.0.0 Ok: queued as 1"], final);
        Assert.Equal(2, harness.Connector.Attempts);
        var (refusing, redo) = (harness.Connector.Backends[0], harness.Connector.Backends[1]);
        Assert.True(await refusing.SessionClosed.WaitAsync(Wire.Patience), "the refused flight's connection is dropped");
        Assert.Empty(refusing.Messages);
        Assert.True(redo.Violations.Count == 0, harness.Describe());
        Assert.Equal(string.Empty, redo.ReceivedBeforeGreeting);
        Assert.Equal([OutboundSessionHarness.SenderEhlo, Sender, Recipient, "DATA", "QUIT"], redo.CommandLines);
        Assert.Equal([Body], redo.Messages);
        Assert.Equal(1, harness.Cache.Counters.Flushes(EhloCacheFlushReason.BadBanner));
        Assert.False(harness.IsCached);
        Assert.Contains(harness.Log.Lines, line => line.Contains("redo=\"banner 554\"", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task EarlyFlight_RemoteClosesTheConnection_FlushesEntryAndDeliversOnceInLockstep(bool beforeItsBanner)
    {
        // Arrange: the first connection takes the flight and drops it, either at once or after answering EHLO and
        // MAIL (replies the sender must never see); the redo meets a pipelining remote that refuses early input.
        await using var harness = new OutboundSessionHarness(FakeBackendOptions.Pipelining("PIPECONNECT"));
        var first = FakeBackendOptions.EarlyPipelining();
        if (beforeItsBanner)
        {
            first.CloseOnEarlyInput = true;
        }
        else
        {
            first.CloseOn = "RCPT";
        }

        harness.Connector.FirstConnectionOptions = first;
        harness.SeedCache(first);

        // Act
        var rcpt = await harness.StartTransactionAsync(OutboundSessionHarness.LocalBanner, Recipient);
        var final = await harness.SendMessageAsync(Body);
        await harness.QuitAsync();

        // Assert
        Assert.Equal([["250 2.1.5 Ok"]], rcpt);
        Assert.Equal(["250 2.0.0 Ok: queued as 1"], final);
        Assert.Equal(2, harness.Connector.Attempts);
        var (dropping, redo) = (harness.Connector.Backends[0], harness.Connector.Backends[1]);
        Assert.Equal($"{OutboundSessionHarness.SenderEhlo}\r\n{Sender}\r\n{Recipient}\r\n", dropping.ReceivedBeforeGreeting);
        Assert.Empty(dropping.Messages);
        Assert.True(redo.Violations.Count == 0, harness.Describe());
        Assert.Equal([OutboundSessionHarness.SenderEhlo, Sender, Recipient, "DATA", "QUIT"], redo.CommandLines);
        Assert.Equal([Body], redo.Messages);
        Assert.Equal(1, harness.Cache.Counters.Flushes(EhloCacheFlushReason.ConnectionFailed));
        Assert.Equal(1, harness.Cache.Counters.TotalFlushes);

        // The session line keeps the short reason; the redo's own line adds what the connection said.
        Assert.Contains(harness.Log.Lines, line => line.Contains("redo=\"early flight failed: closed\"", StringComparison.Ordinal));
        Assert.Contains(harness.Log.Lines, line => line.Contains("redone in lockstep: early flight failed: closed (", StringComparison.Ordinal));
    }
}
