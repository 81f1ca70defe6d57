using EarlyPipeProxy.Sessions.Configuration;
using EarlyPipeProxy.Sessions.EhloCache;
using EarlyPipeProxy.Sessions.Telemetry;
using EarlyPipeProxy.Sessions.Tests.TestSupport;
using static EarlyPipeProxy.Sessions.Tests.TestSupport.HarnessExtensions;

namespace EarlyPipeProxy.Sessions.Tests.Outbound;

/// <summary>
/// Tls:Mode OnConnect toward a port 465 style remote: the handshake before anything else on every connection, the
/// early flight right after it (before the banner) from the TLS-on-connect cache entry, and a failed handshake the
/// sender's 421 4.7.5 with not one octet of SMTP in cleartext and no second connection. Exim's side: OutboundTlsOnConnectTests (E2E).
/// </summary>
public sealed class OutboundTlsOnConnectTests
{
    private const string Body = "Subject: test\r\n\r\nHello.\r\n";
    private const string TlsFailed = "421 4.7.5 Error: TLS with the remote server failed; nothing was sent in cleartext";

    private static readonly EhloCacheKey OnConnectKey = OutboundSessionHarness.CacheKey.WithPhase(TlsPhase.TlsOnConnect);

    private static FakeBackendOptions Remote()
    {
        var remote = FakeBackendOptions.EarlyPipelining();
        remote.TlsOnConnectCertificate = TestCertificate.Instance.Certificate;

        // Long enough that a flight written after the handshake is there before the banner on a loaded machine.
        remote.GreetingDelay = TimeSpan.FromMilliseconds(300);
        return remote;
    }

    private static OutboundSessionHarness Harness(FakeBackendOptions remote, bool verify = false) => new(remote, configure: options =>
    {
        options.Tls.Mode = OutboundTlsMode.OnConnect;
        options.Tls.VerifyCertificate = verify;
        options.Tls.ServerName = TestCertificate.HostName;
    });

    [Fact]
    public async Task WithoutAnEntry_HandshakeThenTheRemotesBanner_TheReplyIsLearntAsTheTlsOnConnectPhase()
    {
        // Arrange: the remote's cleartext entry (a port 25 view of it) is no entry for a TLS-on-connect session.
        var remote = Remote();
        await using var harness = Harness(remote);
        harness.SeedCache();

        // Act
        var rcpt = await harness.StartTransactionAsync(FakeBackendOptions.FinalBannerLine, Recipient);
        var final = await harness.SendMessageAsync(Body);
        await harness.QuitAsync();

        // Assert: lockstep over TLS from the first octet; the reply is stored under the TLS-on-connect phase.
        Assert.Equal([["250 2.1.5 Ok"]], rcpt);
        Assert.Equal(["250 2.0.0 Ok: queued as 1"], final);
        var backend = await harness.RemoteAsync();
        Assert.NotNull(backend.Tls);
        Assert.Equal(string.Empty, backend.ReceivedBeforeGreeting);
        Assert.Equal([OutboundSessionHarness.SenderEhlo, Sender, Recipient, "DATA", "QUIT"], backend.CommandLines);
        Assert.All(backend.Commands, command => Assert.True(command.OverTls, command.Line));
        Assert.DoesNotContain("EHLO", backend.RawReceivedText, StringComparison.Ordinal);
        Assert.Equal([Body], backend.Messages);
        Assert.True(harness.Cache.TryGetFresh(OnConnectKey, out _));
        Assert.Equal(EarlyPipeUse.Advertised, harness.Session.EarlyPipeUse);
        Assert.Contains(harness.Log.Lines, line => line.Contains(" UX=TLS", StringComparison.Ordinal) && line.Contains(" L. ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task WithAnEntry_EhloMailAndRcptFollowTheHandshakeBeforeTheBanner()
    {
        // Arrange
        var remote = Remote();
        await using var harness = Harness(remote);
        Assert.Equal(EhloLearnOutcome.Stored, harness.Cache.Learn(OnConnectKey, 220, OutboundSessionHarness.EhloLines(remote)));

        // Act
        var rcpt = await harness.StartTransactionAsync(OutboundSessionHarness.LocalBanner, Recipient);
        var final = await harness.SendMessageAsync(Body);
        await harness.QuitAsync();

        // Assert: one connection, TLS first, then the whole flight in it before the remote's banner.
        Assert.Equal([["250 2.1.5 Ok"]], rcpt);
        Assert.Equal(["250 2.0.0 Ok: queued as 1"], final);
        Assert.Equal(1, harness.Connector.Attempts);
        var backend = await harness.RemoteAsync();
        Assert.NotNull(backend.Tls);
        Assert.Equal($"{OutboundSessionHarness.SenderEhlo}\r\n{Sender}\r\n{Recipient}\r\n", backend.ReceivedBeforeGreeting);
        Assert.DoesNotContain("EHLO", backend.RawReceivedText, StringComparison.Ordinal);
        Assert.Equal([Body], backend.Messages);
        Assert.Empty(backend.Violations);
        Assert.Equal(EarlyPipeUse.Used, harness.Session.EarlyPipeUse);
        Assert.Contains(harness.Log.Lines, line => line.Contains(" UX=TLS", StringComparison.Ordinal) && line.Contains(" L* ", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task UntrustedCertificate_SenderGets421_NothingInCleartext_NoSecondConnection(bool cached)
    {
        // Arrange: verification on, and the remote's self-signed certificate anchored nowhere.
        var remote = Remote();
        await using var harness = Harness(remote, verify: true);
        if (cached)
        {
            Assert.Equal(EhloLearnOutcome.Stored, harness.Cache.Learn(OnConnectKey, 220, OutboundSessionHarness.EhloLines(remote)));
        }

        // Act: without an entry the sender waits for the remote's banner; with one its RCPT is what the flight answers.
        string[] refused;
        if (cached)
        {
            refused = (await harness.StartTransactionAsync(OutboundSessionHarness.LocalBanner, Recipient))[0];
        }
        else
        {
            harness.Start();
            refused = await harness.Client.ReadReplyAsync();
        }

        await harness.WaitForEndAsync();

        // Assert
        Assert.Equal([TlsFailed], refused);
        Assert.Equal(1, harness.Connector.Attempts);
        // The server side may count the handshake done (the proxy checks the certificate as it ends): no command
        // reached it either way, encrypted or not.
        var backend = await harness.RemoteAsync();
        Assert.Empty(backend.CommandLines);
        Assert.DoesNotContain("EHLO", backend.RawReceivedText, StringComparison.Ordinal);
        Assert.DoesNotContain("MAIL", backend.RawReceivedText, StringComparison.Ordinal);
        Assert.Contains(harness.Log.Lines, line => line.Contains("TLS handshake with U=", StringComparison.Ordinal));
        Assert.Contains(harness.Log.Lines, line => line.Contains("end=\"remote TLS failed\"", StringComparison.Ordinal));
    }

    [Fact]
    public void WithUseOriginalDestination_IsAConfigurationError()
    {
        var options = new OutboundListenerOptions { Name = "redirected", UseOriginalDestination = true, Tls = { Mode = OutboundTlsMode.OnConnect } };

        var thrown = Assert.Throws<FormatException>(() => new OutboundListener(options));

        Assert.Contains("Outbound listener 'redirected'", thrown.Message, StringComparison.Ordinal);
        Assert.Contains("Tls:Mode OnConnect needs a fixed Upstream", thrown.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TrustedCertificate_IsVerifiedAndTheSessionGoesOn()
    {
        // Arrange: the same remote, its certificate anchored by Tls:TrustedCaPath.
        var remote = Remote();
        await using var harness = new OutboundSessionHarness(remote, configure: options =>
        {
            options.Tls.Mode = OutboundTlsMode.OnConnect;
            options.Tls.VerifyCertificate = true;
            options.Tls.TrustedCaPath = TestCertificate.Instance.CertificatePath;
            options.Tls.ServerName = TestCertificate.HostName;
        });

        // Act
        var rcpt = await harness.StartTransactionAsync(FakeBackendOptions.FinalBannerLine, Recipient);
        await harness.QuitAsync();

        // Assert
        Assert.Equal([["250 2.1.5 Ok"]], rcpt);
        Assert.NotNull((await harness.RemoteAsync()).Tls);
    }
}
