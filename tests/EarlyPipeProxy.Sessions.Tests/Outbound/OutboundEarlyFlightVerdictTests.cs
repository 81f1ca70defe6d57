using EarlyPipeProxy.Sessions.Configuration;
using EarlyPipeProxy.Sessions.EhloCache;
using EarlyPipeProxy.Sessions.Tests.TestSupport;
using static EarlyPipeProxy.Sessions.Tests.TestSupport.HarnessExtensions;

namespace EarlyPipeProxy.Sessions.Tests.Outbound;

/// <summary>
/// Replies our own early input caused are not the sender's verdict: when the live EHLO no longer offers the keyword,
/// or a reply to the flight is a protocol error (500, 501, 503, 554, 5.5.x), the flight is given up before any of its
/// replies reaches the sender and the session is redone once in lockstep; the sender gets the remote's real answers,
/// and the message goes once. A policy refusal that is no protocol error (550, 4xx) is relayed as it is.
/// </summary>
public sealed class OutboundEarlyFlightVerdictTests
{
    private const string Body = "Subject: test\r\n\r\nHello.\r\n";

    [Theory]
    [InlineData("MAIL", "503 5.5.1 Error: nested MAIL command", "MAIL 503")]
    [InlineData("RCPT", "554 SMTP synchronization error", "RCPT 554")]
    public async Task KeywordWithdrawn_FlightAnsweredWithAProtocolError_RedoneInLockstepAndTheSenderSeesOnlyItsReplies(
        string verb, string objection, string redoReason)
    {
        // Arrange: the cache still says PIPECONNECT; the first connection no longer offers it and objects to the
        // flight; the redo meets a strictly lockstep remote, which records any command that does not wait its turn.
        await using var harness = new OutboundSessionHarness(FakeBackendOptions.Lockstep());
        var first = FakeBackendOptions.Pipelining();
        first.AcceptsEarlyInput = true;
        first.VerbReplies[verb] = objection;
        harness.Connector.FirstConnectionOptions = first;
        harness.SeedCache(FakeBackendOptions.EarlyPipelining());

        // Act
        var rcpt = await harness.StartTransactionAsync(OutboundSessionHarness.LocalBanner, Recipient);
        var final = await harness.SendMessageAsync(Body);
        await harness.QuitAsync();

        // Assert: the objection never reaches the sender; every reply it got is the second connection's.
        Assert.Equal([["250 2.1.5 Ok"]], rcpt);
        Assert.Equal(["250 2.0.0 Ok: queued as 1"], final);
        Assert.Equal(2, harness.Connector.Attempts);
        var (objecting, redo) = (harness.Connector.Backends[0], harness.Connector.Backends[1]);
        Assert.Equal($"{OutboundSessionHarness.SenderEhlo}\r\n{Sender}\r\n{Recipient}\r\n", objecting.ReceivedBeforeGreeting);
        Assert.True(await objecting.SessionClosed.WaitAsync(Wire.Patience), "a remote that objected to the flight is reset, not talked to");
        Assert.DoesNotContain("DATA", objecting.CommandLines);
        Assert.Empty(objecting.Messages);
        Assert.True(redo.Violations.Count == 0, harness.Describe());
        Assert.Equal(string.Empty, redo.ReceivedBeforeGreeting);
        Assert.Equal([OutboundSessionHarness.SenderEhlo, Sender, Recipient, "DATA", "QUIT"], redo.CommandLines);
        Assert.Equal([Body], redo.Messages);
        Assert.Equal(1, harness.Cache.Counters.Flushes(EhloCacheFlushReason.KeywordWithdrawn));
        Assert.Equal(1, harness.Cache.Counters.TotalFlushes);
        Assert.False(harness.IsCached);
        Assert.Contains(harness.Log.Lines, line => line.Contains($"redo=\"keyword withdrawn, {redoReason}\"", StringComparison.Ordinal));
    }

    [Fact]
    public async Task KeywordWithdrawn_FlightAccepted_QuitsThatConnectionAndRedoesInLockstep()
    {
        // Arrange: a remote that dropped the keyword (and PIPELINING) but takes early input all the same, as Exim does
        // for hosts in pipelining_connect_advertise_hosts: its 250s answer input it did not invite.
        await using var harness = new OutboundSessionHarness(FakeBackendOptions.Lockstep());
        var first = FakeBackendOptions.Lockstep();
        first.AcceptsEarlyInput = true;
        harness.Connector.FirstConnectionOptions = first;
        harness.SeedCache(FakeBackendOptions.EarlyPipelining());

        // Act
        var rcpt = await harness.StartTransactionAsync(OutboundSessionHarness.LocalBanner, Recipient);
        var final = await harness.SendMessageAsync(Body);
        await harness.QuitAsync();

        // Assert: the first connection's transaction ends with QUIT, no DATA; the message goes once, on the redo.
        Assert.Equal([["250 2.1.5 Ok"]], rcpt);
        Assert.Equal(["250 2.0.0 Ok: queued as 1"], final);
        Assert.Equal(2, harness.Connector.Attempts);
        var (stale, redo) = (harness.Connector.Backends[0], harness.Connector.Backends[1]);
        Assert.False(await stale.SessionClosed.WaitAsync(Wire.Patience), "a remote that only withdrew the keyword gets a polite end");
        Assert.Equal([OutboundSessionHarness.SenderEhlo, Sender, Recipient, "QUIT"], stale.CommandLines);
        Assert.Empty(stale.Messages);
        Assert.True(redo.Violations.Count == 0, harness.Describe());
        Assert.Equal([OutboundSessionHarness.SenderEhlo, Sender, Recipient, "DATA", "QUIT"], redo.CommandLines);
        Assert.Equal([Body], redo.Messages);
        Assert.Equal(1, harness.Cache.Counters.Flushes(EhloCacheFlushReason.KeywordWithdrawn));
        Assert.False(harness.IsCached);
        Assert.Contains(harness.Log.Lines, line => line.Contains("redo=\"keyword withdrawn\"", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("MAIL", "503 5.5.1 Error: nested MAIL command", "MAIL 503")]
    [InlineData("RCPT", "554 5.5.0 Error: SMTP protocol synchronization", "RCPT 554")]
    [InlineData("RCPT", "500 5.5.2 Error: bad syntax", "RCPT 500")]
    [InlineData("RCPT", "501 5.5.4 Syntax: RCPT TO:<address>", "RCPT 501")]
    public async Task ProtocolErrorInTheFlight_KeywordStillOffered_FlushesWithItsReasonAndRedoesInLockstep(string verb, string objection, string redoReason)
    {
        // Arrange: the keyword is still offered; only the first connection objects to the flight.
        await using var harness = new OutboundSessionHarness(FakeBackendOptions.EarlyPipelining());
        var first = FakeBackendOptions.EarlyPipelining();
        first.VerbReplies[verb] = objection;
        harness.Connector.FirstConnectionOptions = first;
        harness.SeedCache();

        // Act
        var rcpt = await harness.StartTransactionAsync(OutboundSessionHarness.LocalBanner, Recipient);
        var final = await harness.SendMessageAsync(Body);
        await harness.QuitAsync();

        // Assert
        Assert.Equal([["250 2.1.5 Ok"]], rcpt);
        Assert.Equal(["250 2.0.0 Ok: queued as 1"], final);
        Assert.Equal(2, harness.Connector.Attempts);
        var (objecting, redo) = (harness.Connector.Backends[0], harness.Connector.Backends[1]);
        Assert.True(await objecting.SessionClosed.WaitAsync(Wire.Patience), "a remote that objected to the flight is reset");
        Assert.Empty(objecting.Messages);
        Assert.Equal(string.Empty, redo.ReceivedBeforeGreeting);
        Assert.Equal([OutboundSessionHarness.SenderEhlo, Sender, Recipient, "DATA", "QUIT"], redo.CommandLines);
        Assert.Equal([Body], redo.Messages);
        Assert.Equal(1, harness.Cache.Counters.Flushes(EhloCacheFlushReason.EarlyInputRefused));
        Assert.Equal(1, harness.Cache.Counters.TotalFlushes);
        Assert.Contains(harness.Log.Lines, line => line.Contains($"redo=\"{redoReason}\"", StringComparison.Ordinal));
    }

    [Fact]
    public async Task PolicyRefusal554OnRcpt_RedoneOnceAndTheSenderGetsTheLockstep554()
    {
        // Arrange: a genuine policy refusal, given on every connection; 554 may also be a refusal of early input, so
        // it costs one lockstep connection to learn which it is.
        const string Refusal = "554 5.7.1 <bob@example.net>: Relay access denied";
        var remote = FakeBackendOptions.EarlyPipelining();
        remote.Rejections["bob@example.net"] = Refusal;
        await using var harness = new OutboundSessionHarness(remote);
        harness.SeedCache();

        // Act
        var rcpt = await harness.StartTransactionAsync(OutboundSessionHarness.LocalBanner, Recipient);
        await harness.QuitAsync();

        // Assert: the refusal reaches the sender once, from the lockstep connection; nothing more is redone.
        Assert.Equal([[Refusal]], rcpt);
        Assert.Equal(2, harness.Connector.Attempts);
        var (early, redo) = (harness.Connector.Backends[0], harness.Connector.Backends[1]);
        Assert.NotEqual(string.Empty, early.ReceivedBeforeGreeting);
        Assert.Equal(string.Empty, redo.ReceivedBeforeGreeting);
        Assert.Equal([OutboundSessionHarness.SenderEhlo, Sender, Recipient, "QUIT"], redo.CommandLines);
        Assert.Empty(early.Messages);
        Assert.Empty(redo.Messages);
        Assert.Single(harness.Log.Lines, line => line.Contains("redone in lockstep", StringComparison.Ordinal));
        Assert.Contains(harness.Log.Lines, line => line.Contains("redo=\"RCPT 554\"", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("550 5.1.1 <bob@example.net>: Recipient address rejected: User unknown in local recipient table")]
    [InlineData("452 4.5.3 Error: too many recipients")]
    [InlineData("451 4.3.0 Error: queue file write error")]
    public async Task PolicyRefusalThatIsNoProtocolError_RelayedFromTheFlightWithoutRedo(string refusal)
    {
        // Arrange
        var remote = FakeBackendOptions.EarlyPipelining();
        remote.Rejections["bob@example.net"] = refusal;
        await using var harness = new OutboundSessionHarness(remote);
        harness.SeedCache();

        // Act
        var rcpt = await harness.StartTransactionAsync(OutboundSessionHarness.LocalBanner, Recipient);
        await harness.QuitAsync();

        // Assert
        Assert.Equal([[refusal]], rcpt);
        Assert.Equal(1, harness.Connector.Attempts);
        var backend = await harness.RemoteAsync();
        Assert.Equal($"{OutboundSessionHarness.SenderEhlo}\r\n{Sender}\r\n{Recipient}\r\n", backend.ReceivedBeforeGreeting);
        Assert.DoesNotContain(harness.Log.Lines, line => line.Contains("redo=", StringComparison.Ordinal) || line.Contains("redone", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ProtocolErrorInThePostTlsFlight_FlushesThatPhaseAndRedoesInLockstep()
    {
        // Arrange: both TLS phases cached; after the handshake the first connection objects to the second flight.
        var remote = FakeBackendOptions.EarlyPipelining();
        remote.StartTlsCertificate = TestCertificate.Instance.Certificate;
        var first = FakeBackendOptions.EarlyPipelining();
        first.StartTlsCertificate = TestCertificate.Instance.Certificate;
        first.VerbReplies["RCPT"] = "554 SMTP synchronization error";
        await using var harness = new OutboundSessionHarness(remote, configure: options =>
        {
            options.Tls.Mode = OutboundTlsMode.Opportunistic;
            options.Tls.VerifyCertificate = false;
        });
        harness.Connector.FirstConnectionOptions = first;
        var cleartext = new FakeBackendOptions { Keywords = [.. remote.Keywords, "STARTTLS"] };
        Assert.Equal(EhloLearnOutcome.Stored, harness.Cache.Learn(OutboundSessionHarness.CacheKey, 220, OutboundSessionHarness.EhloLines(cleartext)));
        var secured = OutboundSessionHarness.CacheKey.WithPhase(TlsPhase.AfterStartTls);
        Assert.Equal(EhloLearnOutcome.Stored, harness.Cache.Learn(secured, 220, OutboundSessionHarness.EhloLines(remote)));

        // Act
        var rcpt = await harness.StartTransactionAsync(OutboundSessionHarness.LocalBanner, Recipient);
        var final = await harness.SendMessageAsync(Body);
        await harness.QuitAsync();

        // Assert
        Assert.Equal([["250 2.1.5 Ok"]], rcpt);
        Assert.Equal(["250 2.0.0 Ok: queued as 1"], final);
        Assert.Equal(2, harness.Connector.Attempts);
        var (objecting, redo) = (harness.Connector.Backends[0], harness.Connector.Backends[1]);
        Assert.NotNull(objecting.Tls);
        Assert.Empty(objecting.Messages);
        Assert.NotNull(redo.Tls);
        Assert.Equal(string.Empty, redo.ReceivedBeforeGreeting);
        Assert.Equal([OutboundSessionHarness.SenderEhlo, "STARTTLS", OutboundSessionHarness.SenderEhlo, Sender, Recipient, "DATA", "QUIT"], redo.CommandLines);
        Assert.Equal([Body], redo.Messages);
        Assert.Equal(1, harness.Cache.Counters.Flushes(EhloCacheFlushReason.EarlyInputRefused));
        Assert.Contains(harness.Log.Lines, line => line.Contains("redo=\"RCPT 554\"", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ProtocolErrorToTheEarlyStartTls_RedoneInLockstepWithTlsInsteadOfGoingOnInCleartext()
    {
        // Arrange: the flight is EHLO and STARTTLS; the first connection objects to the STARTTLS it got early, which
        // an Opportunistic policy would otherwise take as "no TLS here" and carry on in cleartext.
        var remote = FakeBackendOptions.EarlyPipelining();
        remote.StartTlsCertificate = TestCertificate.Instance.Certificate;
        var first = FakeBackendOptions.EarlyPipelining();
        first.StartTlsCertificate = TestCertificate.Instance.Certificate;
        first.VerbReplies["STARTTLS"] = "554 SMTP synchronization error";
        await using var harness = new OutboundSessionHarness(remote, configure: options =>
        {
            options.Tls.Mode = OutboundTlsMode.Opportunistic;
            options.Tls.VerifyCertificate = false;
        });
        harness.Connector.FirstConnectionOptions = first;
        var cleartext = new FakeBackendOptions { Keywords = [.. remote.Keywords, "STARTTLS"] };
        Assert.Equal(EhloLearnOutcome.Stored, harness.Cache.Learn(OutboundSessionHarness.CacheKey, 220, OutboundSessionHarness.EhloLines(cleartext)));

        // Act
        var rcpt = await harness.StartTransactionAsync(OutboundSessionHarness.LocalBanner, Recipient);
        var final = await harness.SendMessageAsync(Body);
        await harness.QuitAsync();

        // Assert: the message went once, over TLS, on the second connection.
        Assert.Equal([["250 2.1.5 Ok"]], rcpt);
        Assert.Equal(["250 2.0.0 Ok: queued as 1"], final);
        Assert.Equal(2, harness.Connector.Attempts);
        var (objecting, redo) = (harness.Connector.Backends[0], harness.Connector.Backends[1]);
        Assert.Equal([OutboundSessionHarness.SenderEhlo, "STARTTLS"], objecting.CommandLines);
        Assert.Empty(objecting.Messages);
        Assert.NotNull(redo.Tls);
        Assert.Equal([OutboundSessionHarness.SenderEhlo, "STARTTLS", OutboundSessionHarness.SenderEhlo, Sender, Recipient, "DATA", "QUIT"], redo.CommandLines);
        Assert.Equal([Body], redo.Messages);
        Assert.Equal(1, harness.Cache.Counters.Flushes(EhloCacheFlushReason.EarlyInputRefused));
        Assert.Contains(harness.Log.Lines, line => line.Contains("redo=\"STARTTLS 554\"", StringComparison.Ordinal));
    }
}
