using EarlyPipeProxy.Sessions.Telemetry;
using EarlyPipeProxy.Sessions.Configuration;
using EarlyPipeProxy.Sessions.Tests.TestSupport;

namespace EarlyPipeProxy.Sessions.Tests;

/// <summary>
/// STARTTLS toward the backend (Backend.Tls = StartTls): the proxy's own EHLO, STARTTLS and handshake come before
/// anything of the client's, so that XCLIENT and every client byte travel encrypted, or never leave the proxy.
/// </summary>
public sealed class BackendTlsTests
{
    private const string Sender = HarnessExtensions.Sender;
    private const string Recipient = HarnessExtensions.Recipient;
    private const string EarlyCommands = SessionHarness.ClientEhlo + "\r\n" + Sender + "\r\n" + Recipient + "\r\nDATA\r\n";
    private const string BackendUnavailable = "421 4.4.2 Service not available: backend connection failed\r\n";

    private static FakeBackendOptions TlsBackend(params string[] extraKeywords)
    {
        var script = FakeBackendOptions.Lockstep(extraKeywords);
        script.StartTlsCertificate = TestCertificate.Instance.Certificate;
        return script;
    }

    private static Action<InboundListenerOptions> BackendStartTls(bool verify, ClientIdentityMode identity = ClientIdentityMode.None)
        => o =>
        {
            o.Backend.Tls = BackendTlsMode.StartTls;
            o.Backend.VerifyCertificate = verify;
            o.Backend.TlsServerName = TestCertificate.HostName;
            o.Backend.ClientIdentity = identity;
        };

    /// <summary>The client's secrets that must never cross the wire in cleartext.</summary>
    private static void AssertNothingOfTheClientsInCleartext(FakeBackend backend)
    {
        var raw = backend.RawReceivedText;
        Assert.DoesNotContain("client.example", raw, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("alice@example.org", raw, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("bob@example.net", raw, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("127.0.0.7", raw, StringComparison.Ordinal);
        Assert.DoesNotContain("Hello, encrypted", raw, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StartTls_ProxyNegotiatesBeforeAnythingOfTheClients_ClientsCommandsArriveOverTls()
    {
        // Arrange
        await using var harness = new SessionHarness(TlsBackend(), BackendStartTls(verify: false));
        await harness.Client.SendAsync(EarlyCommands);

        // Act
        harness.Start();
        var banner = await harness.Client.ReadReplyAsync();
        var ehlo = await harness.Client.ReadReplyAsync();
        var mail = await harness.Client.ReadReplyAsync();
        var rcpt = await harness.Client.ReadReplyAsync();
        var data = await harness.Client.ReadReplyAsync();
        await harness.Client.SendAsync("Hello, encrypted\r\n.\r\nQUIT\r\n");
        var endOfData = await harness.Client.ReadReplyAsync();
        var quit = await harness.Client.ReadReplyAsync();
        var rest = await harness.Client.ReadToEndAsync();
        await harness.WaitForEndAsync();

        // Assert: the client sees an ordinary session; the backend's STARTTLS is not passed on.
        Assert.Equal([FakeBackendOptions.FinalBannerLine], banner);
        Assert.Equal(
            ["250-fake.backend Hello client.example", "250-SIZE 10240000", "250-8BITMIME", "250-ENHANCEDSTATUSCODES", "250-PIPELINING", "250-PIPECONNECT",
                "250 CHUNKING"],
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
        Assert.NotNull(backend.Tls);
        Assert.Equal(
            [("EHLO proxy.test", false), ("STARTTLS", false), ("EHLO client.example", true), (Sender, true), (Recipient, true), ("DATA", true), ("QUIT", true)],
            backend.Commands.Select(c => (c.Line, c.OverTls)).ToArray());
        Assert.Equal(["Hello, encrypted\r\n"], backend.Messages);
        Assert.StartsWith("EHLO proxy.test\r\nSTARTTLS\r\n", backend.RawReceivedText, StringComparison.Ordinal);
        AssertNothingOfTheClientsInCleartext(backend);
    }

    [Fact]
    public async Task StartTls_WithXclient_XclientTravelsOverTlsAfterAFreshEhlo()
    {
        // Arrange
        await using var harness = new SessionHarness(
            TlsBackend("XCLIENT NAME ADDR PORT PROTO HELO LOGIN"),
            BackendStartTls(verify: false, ClientIdentityMode.Xclient));
        await harness.Client.SendAsync(SessionHarness.ClientEhlo + "\r\n" + Sender + "\r\n");

        // Act
        harness.Start();
        var banner = await harness.Client.ReadReplyAsync();
        var ehlo = await harness.Client.ReadReplyAsync();
        var mail = await harness.Client.ReadReplyAsync();

        // Assert
        Assert.Equal([FakeBackendOptions.FinalBannerLine], banner);
        Assert.DoesNotContain(ehlo, l => l.Contains("XCLIENT", StringComparison.OrdinalIgnoreCase) || l.Contains("STARTTLS", StringComparison.OrdinalIgnoreCase));
        Assert.Equal(["250 2.1.0 Ok"], mail);
        var backend = await harness.BackendAsync();
        Assert.True(backend.Violations.Count == 0, backend.Describe());
        Assert.Equal(
            [
                ("EHLO proxy.test", false),
                ("STARTTLS", false),
                ("EHLO proxy.test", true),
                ("XCLIENT ADDR=127.0.0.7 PORT=40007 NAME=[UNAVAILABLE]", true),
                ("EHLO client.example", true),
                (Sender, true),
            ],
            backend.Commands.Select(c => (c.Line, c.OverTls)).ToArray());
        AssertNothingOfTheClientsInCleartext(backend);
    }

    [Fact]
    public async Task StartTls_VerifyCertificateAndSelfSignedBackend_Replies421AndSendsNothingOfTheClients()
    {
        // Arrange
        await using var harness = new SessionHarness(TlsBackend(), BackendStartTls(verify: true));
        await harness.Client.SendAsync(EarlyCommands);

        // Act
        harness.Start();
        var everything = await harness.Client.ReadToEndAsync();
        await harness.WaitForEndAsync();

        // Assert
        Assert.Equal(BackendUnavailable, everything);
        var backend = await harness.BackendAsync();
        await backend.SessionClosed.WaitAsync(Wire.Patience);
        await backend.Completion.WaitAsync(Wire.Patience);
        // The backend's side of the handshake may well complete (the proxy checks the chain after its Finished);
        // what counts is that nothing of the client's follows, encrypted or not.
        Assert.Equal(["EHLO proxy.test", "STARTTLS"], backend.CommandLines);
        Assert.Empty(backend.Messages);
        Assert.StartsWith("EHLO proxy.test\r\nSTARTTLS\r\n", backend.RawReceivedText, StringComparison.Ordinal);
        AssertNothingOfTheClientsInCleartext(backend);
        Assert.Contains(harness.Log.Lines, l => l.StartsWith("Warning: backend ", StringComparison.Ordinal) && l.Contains("TLS handshake", StringComparison.Ordinal));
    }

    [Fact]
    public async Task StartTls_BackendDoesNotOfferStartTls_Replies421AndSendsNothingOfTheClients()
    {
        // Arrange
        await using var harness = new SessionHarness(FakeBackendOptions.Lockstep(), BackendStartTls(verify: false));
        await harness.Client.SendAsync(EarlyCommands);

        // Act
        harness.Start();
        var everything = await harness.Client.ReadToEndAsync();
        await harness.WaitForEndAsync();

        // Assert
        Assert.Equal(BackendUnavailable, everything);
        var backend = await harness.BackendAsync();
        await backend.SessionClosed.WaitAsync(Wire.Patience);
        Assert.Equal("EHLO proxy.test\r\n", backend.ReceivedText);
    }

    [Fact]
    public async Task StartTls_BothSides_ClientTlsTerminatedAndBackendTlsSeparate()
    {
        // Arrange
        await using var harness = new SessionHarness(TlsBackend(), o =>
        {
            TestCertificate.Configure(o);
            BackendStartTls(verify: false)(o);
        });

        // Act
        var ehloBefore = await harness.StartAndEhloAsync();
        await harness.Client.SendAsync("STARTTLS\r\n");
        var goAhead = await harness.Client.ReadReplyAsync();
        await harness.Client.StartTlsAsync();
        await harness.Client.SendAsync(SessionHarness.ClientEhlo + "\r\n" + Sender + "\r\n" + Recipient + "\r\n");
        var ehloAfter = await harness.Client.ReadReplyAsync();
        var mail = await harness.Client.ReadReplyAsync();
        var rcpt = await harness.Client.ReadReplyAsync();
        await harness.Client.SendAsync("QUIT\r\n");
        var quit = await harness.Client.ReadReplyAsync();
        var rest = await harness.Client.ReadToTlsEndAsync();
        harness.Client.Disconnect();
        await harness.WaitForEndAsync();

        // Assert
        Assert.Equal("250 STARTTLS", ehloBefore[^1]);
        Assert.Equal(1, ehloBefore.Count(l => l.EndsWith("STARTTLS", StringComparison.Ordinal)));
        Assert.Equal(["220 2.0.0 Ready to start TLS"], goAhead);
        Assert.DoesNotContain(ehloAfter, l => l.Contains("STARTTLS", StringComparison.Ordinal));
        Assert.Equal(["250 2.1.0 Ok"], mail);
        Assert.Equal(["250 2.1.5 Ok"], rcpt);
        Assert.Equal(["221 2.0.0 Bye"], quit);
        Assert.Equal(string.Empty, rest);
        var backend = await harness.BackendAsync();
        Assert.True(backend.Violations.Count == 0, backend.Describe());
        Assert.Equal(
            ["EHLO proxy.test", "STARTTLS", "EHLO client.example", "EHLO client.example", Sender, Recipient, "QUIT"],
            backend.CommandLines);
        Assert.All(backend.Commands.Skip(2), c => Assert.True(c.OverTls, c.Line));
        AssertNothingOfTheClientsInCleartext(backend);
    }

    [Fact]
    public async Task StartTls_ClientHangsUpMidSession_SessionEndsWithoutWaitingForTheBackendToHangUp()
    {
        // Arrange: a backend that takes close_notify as a courtesy and closes only when the TCP connection does.
        var script = TlsBackend();
        script.WaitForConnectionEndAfterCloseNotify = true;
        await using var harness = new SessionHarness(script, BackendStartTls(verify: false));
        await harness.StartAndEhloAsync();

        // Act
        harness.Client.Disconnect();
        var rest = await harness.Client.ReadToEndAsync();
        await harness.WaitForEndAsync();

        // Assert
        Assert.Equal(string.Empty, rest);
        var backend = await harness.BackendAsync();
        Assert.False(await backend.SessionClosed.WaitAsync(Wire.Patience), "closed politely: no transaction was open");
        Assert.Equal(["EHLO proxy.test", "STARTTLS", "EHLO client.example"], backend.CommandLines);
    }
}
