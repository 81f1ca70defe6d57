using EarlyPipeProxy.Sessions.Configuration;
using EarlyPipeProxy.Sessions.Tests.TestSupport;
using static EarlyPipeProxy.Sessions.Tests.TestSupport.HarnessExtensions;

namespace EarlyPipeProxy.Sessions.Tests.Outbound;

/// <summary>
/// The TLS policy toward the remote holds on every path, cached early flights included: under Required a remote
/// without STARTTLS never gets MAIL, RCPT or data; credentials never go in cleartext after TLS was expected and failed.
/// </summary>
public sealed class OutboundTlsPolicyTests
{
    private const string TlsRefusal = "421 4.7.10 Error: TLS required by policy but the remote does not offer STARTTLS";

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Required_RemoteWithoutStartTls_EveryCommandGets421AndNoMailOrRcptLeaves(bool cached)
    {
        // Arrange: an early-pipelining remote that offers no STARTTLS; cached as a first (refused) session learnt it.
        var remote = FakeBackendOptions.EarlyPipelining();
        await using var harness = new OutboundSessionHarness(remote, configure: options => options.Tls.Mode = OutboundTlsMode.Required);
        if (cached)
        {
            harness.SeedCache();
        }

        // Act: the cached entry is not one an early flight may use, so the sender meets the remote's own banner.
        await harness.StartAndReadBannerAsync(FakeBackendOptions.FinalBannerLine);
        var ehlo = await harness.CommandAsync(OutboundSessionHarness.SenderEhlo);
        var mail = await harness.CommandAsync(Sender);
        var rcpt = await harness.CommandAsync(Recipient);
        var data = await harness.CommandAsync("DATA");
        await harness.QuitAsync();

        // Assert
        Assert.Equal([TlsRefusal], ehlo);
        Assert.Equal([TlsRefusal], mail);
        Assert.Equal([TlsRefusal], rcpt);
        Assert.Equal([TlsRefusal], data);
        Assert.Equal(1, harness.Connector.Attempts);
        var backend = await harness.RemoteAsync();
        Assert.Equal(string.Empty, backend.ReceivedBeforeGreeting);
        Assert.Equal([OutboundSessionHarness.SenderEhlo], backend.CommandLines.Where(line => line != "QUIT"));
        Assert.Empty(backend.Messages);
    }

    [Fact]
    public async Task Required_CachedEntryWithStartTls_RemoteRefusesIt_NoMailLeavesInTheFlightOrAfter()
    {
        // Arrange: the cache says STARTTLS; the live remote turns it down.
        var remote = FakeBackendOptions.EarlyPipelining("STARTTLS");
        remote.VerbReplies["STARTTLS"] = "454 4.7.0 TLS not available due to local problem";
        await using var harness = new OutboundSessionHarness(remote, configure: options => options.Tls.Mode = OutboundTlsMode.Required);
        harness.SeedCache();

        // Act: the flight is EHLO and STARTTLS only; the sender tries a new transaction after the refusal.
        var rcpt = await harness.StartTransactionAsync(OutboundSessionHarness.LocalBanner, Recipient);
        var mail = await harness.CommandAsync(Sender);
        var again = await harness.CommandAsync(Recipient);
        await harness.QuitAsync();

        // Assert
        Assert.Equal([[remote.VerbReplies["STARTTLS"]]], rcpt);
        Assert.Equal([remote.VerbReplies["STARTTLS"]], mail);
        Assert.Equal([remote.VerbReplies["STARTTLS"]], again);
        var backend = await harness.RemoteAsync();
        Assert.Equal($"{OutboundSessionHarness.SenderEhlo}\r\nSTARTTLS\r\n", backend.ReceivedBeforeGreeting);
        Assert.Equal([OutboundSessionHarness.SenderEhlo, "STARTTLS"], backend.CommandLines.Where(line => line != "QUIT"));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Opportunistic_RemoteRefusesStartTls_MailGoesInCleartextButAuthIsNotRelayed(bool cached)
    {
        // Arrange: STARTTLS offered and then refused; the Opportunistic policy goes on in cleartext.
        var remote = FakeBackendOptions.EarlyPipelining("AUTH PLAIN", "STARTTLS");
        remote.VerbReplies["STARTTLS"] = "454 4.7.0 TLS not available due to local problem";
        await using var harness = new OutboundSessionHarness(remote, configure: options => options.Tls.Mode = OutboundTlsMode.Opportunistic);
        if (cached)
        {
            harness.SeedCache();
        }

        // Act
        await harness.StartAndReadBannerAsync(cached ? OutboundSessionHarness.LocalBanner : FakeBackendOptions.FinalBannerLine);
        Assert.StartsWith("250 ", (await harness.CommandAsync(OutboundSessionHarness.SenderEhlo))[^1], StringComparison.Ordinal);
        var auth = await harness.CommandAsync("AUTH PLAIN AGEAYg==");
        var mail = await harness.CommandAsync(Sender);
        var rcpt = await harness.CommandAsync(Recipient);
        await harness.QuitAsync();

        // Assert
        Assert.Equal(["454 4.7.0 Error: TLS to the remote failed; credentials are not relayed in cleartext"], auth);
        Assert.Equal(["250 2.1.0 Ok"], mail);
        Assert.Equal(["250 2.1.5 Ok"], rcpt);
        var backend = await harness.RemoteAsync();
        Assert.DoesNotContain(backend.CommandLines, line => line.StartsWith("AUTH", StringComparison.Ordinal));
        Assert.Contains(Sender, backend.CommandLines);
    }
}
