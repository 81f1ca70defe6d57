using EarlyPipeProxy.Sessions.Telemetry;
using System.Buffers.Binary;
using System.Security.Authentication;
using EarlyPipeProxy.Sessions.Configuration;
using EarlyPipeProxy.Sessions.Tests.TestSupport;

namespace EarlyPipeProxy.Sessions.Tests;

/// <summary>
/// TLS toward the client: STARTTLS (RFC 3207) terminated by the proxy, cleartext after STARTTLS discarded
/// (CVE-2011-0411), EHLO again after the handshake, TLS-on-connect with early pipelining, and what the backend and
/// the session log learn about it.
/// </summary>
public sealed class TlsTests
{
    private const string Sender = HarnessExtensions.Sender;
    private const string Recipient = HarnessExtensions.Recipient;
    private const string GoAhead = "220 2.0.0 Ready to start TLS";
    private const string EarlyCommands = SessionHarness.ClientEhlo + "\r\n" + Sender + "\r\n" + Recipient + "\r\nDATA\r\n";

    private static readonly string[] EhloBeforeTls =
        ["250-fake.backend Hello client.example", "250-SIZE 10240000", "250-8BITMIME", "250-ENHANCEDSTATUSCODES", "250-PIPELINING", "250-PIPECONNECT", "250-CHUNKING",
        "250 STARTTLS"];

    private static readonly string[] EhloAfterTls =
        ["250-fake.backend Hello client.example", "250-SIZE 10240000", "250-8BITMIME", "250-ENHANCEDSTATUSCODES", "250-PIPELINING", "250-PIPECONNECT",
        "250 CHUNKING"];

    private static SessionHarness StartTlsHarness(FakeBackendOptions? backend = null, Action<InboundListenerOptions>? configure = null)
        => new(backend ?? FakeBackendOptions.Lockstep(), o =>
        {
            TestCertificate.Configure(o);
            configure?.Invoke(o);
        });

    private static SessionHarness ImplicitTlsHarness(FakeBackendOptions? backend = null, Action<InboundListenerOptions>? configure = null)
    {
        // The backend's greeting waits a little, so that commands sent right after the handshake are there before it.
        var script = backend ?? FakeBackendOptions.Lockstep();
        script.GreetingDelay = TimeSpan.FromMilliseconds(250);
        return new SessionHarness(script, o =>
        {
            TestCertificate.Configure(o);
            o.ImplicitTls = true;
            configure?.Invoke(o);
        });
    }

    /// <summary>Banner, EHLO, STARTTLS, its 220 and the handshake; returns the cleartext EHLO reply.</summary>
    private static async Task<string[]> StartTlsAfterEhloAsync(SessionHarness harness)
    {
        var ehlo = await harness.StartAndEhloAsync();
        await harness.Client.SendAsync("STARTTLS\r\n");
        Assert.Equal([GoAhead], await harness.Client.ReadReplyAsync());
        await harness.Client.StartTlsAsync();
        return ehlo;
    }

    private static string ExpectedTlsField(TestClient client)
    {
        var tls = client.Tls!;
        var protocol = tls.SslProtocol switch
        {
            SslProtocols.Tls13 => "TLS1.3",
            SslProtocols.Tls12 => "TLS1.2",
            var other => other.ToString(),
        };
        return $" X={protocol}:{tls.NegotiatedCipherSuite} ";
    }

    private static string SessionLine(SessionHarness harness)
        => Assert.Single(harness.Log.Lines, l => l.StartsWith("Information: session ", StringComparison.Ordinal));

    [Fact]
    public async Task Ehlo_WithCertificate_OffersStartTlsInCleartextOnlyAndPipeConnectBothTimes()
    {
        // Arrange
        await using var harness = StartTlsHarness();

        // Act
        var before = await StartTlsAfterEhloAsync(harness);
        await harness.Client.SendAsync(SessionHarness.ClientEhlo + "\r\n");
        var after = await harness.Client.ReadReplyAsync();
        await harness.Client.SendAsync("QUIT\r\n");
        var quit = await harness.Client.ReadReplyAsync();

        // Assert
        Assert.Equal(EhloBeforeTls, before);
        Assert.Equal(EhloAfterTls, after);
        Assert.Equal(["221 2.0.0 Bye"], quit);
        Assert.Equal(TestCertificate.Instance.Thumbprint, harness.Client.ServerCertificateHash);
        Assert.Equal(EarlyPipeUse.Advertised, harness.Session.EarlyPipeUse);
    }

    [Fact]
    public async Task StartTls_EarlyEhloAndStartTlsThenPipelinedTransactionOverTls_RelaysEverythingAndEndsCleanly()
    {
        // Arrange
        await using var harness = StartTlsHarness();
        await harness.Client.SendAsync(SessionHarness.ClientEhlo + "\r\nSTARTTLS\r\n");

        // Act
        harness.Start();
        var banner = await harness.Client.ReadReplyAsync();
        var ehloBefore = await harness.Client.ReadReplyAsync();
        var goAhead = await harness.Client.ReadReplyAsync();
        await harness.Client.StartTlsAsync();
        await harness.Client.SendAsync(EarlyCommands);
        var ehloAfter = await harness.Client.ReadReplyAsync();
        var mail = await harness.Client.ReadReplyAsync();
        var rcpt = await harness.Client.ReadReplyAsync();
        var data = await harness.Client.ReadReplyAsync();
        await harness.Client.SendAsync("Subject: tls\r\n\r\nHello\r\n.\r\n");
        var endOfData = await harness.Client.ReadReplyAsync();
        await harness.Client.SendAsync("QUIT\r\n");
        var quit = await harness.Client.ReadReplyAsync();
        var rest = await harness.Client.ReadToTlsEndAsync();
        harness.Client.Disconnect(); // as clients do after 221; the session closing by itself is tested on its own
        await harness.WaitForEndAsync();

        // Assert
        Assert.Equal([FakeBackendOptions.FinalBannerLine], banner);
        Assert.Equal(EhloBeforeTls, ehloBefore);
        Assert.Equal([GoAhead], goAhead);
        Assert.Equal(EhloAfterTls, ehloAfter);
        Assert.Equal(["250 2.1.0 Ok"], mail);
        Assert.Equal(["250 2.1.5 Ok"], rcpt);
        Assert.Equal(["354 End data with <CR><LF>.<CR><LF>"], data);
        Assert.Equal(["250 2.0.0 Ok: queued as 1"], endOfData);
        Assert.Equal(["221 2.0.0 Bye"], quit);
        Assert.Equal(string.Empty, rest);
        Assert.True(harness.Client.CloseNotifyReceived, "the session ends TLS with close_notify");
        Assert.Equal(EarlyPipeUse.Used, harness.Session.EarlyPipeUse);

        var backend = await harness.BackendAsync();
        Assert.True(backend.Violations.Count == 0, backend.Describe());
        Assert.Equal(["EHLO client.example", "EHLO client.example", Sender, Recipient, "DATA", "QUIT"], backend.CommandLines);
        Assert.DoesNotContain("STARTTLS", backend.ReceivedText, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(["Subject: tls\r\n\r\nHello\r\n"], backend.Messages);
        Assert.False(await backend.SessionClosed.WaitAsync(Wire.Patience), "a finished session closes the backend politely");
        Assert.Contains(ExpectedTlsField(harness.Client), SessionLine(harness), StringComparison.Ordinal);
    }

    [Fact]
    public async Task StartTls_CleartextSentWithStartTls_IsDiscardedNeverAnsweredNorForwarded()
    {
        // Arrange
        await using var harness = StartTlsHarness();
        await harness.StartAndEhloAsync();

        // Act: the injected RSET comes in the same segment as STARTTLS (CVE-2011-0411).
        await harness.Client.SendAsync("STARTTLS\r\nRSET\r\n");
        var goAhead = await harness.Client.ReadReplyAsync();
        await harness.Client.StartTlsAsync();
        await harness.Client.SendAsync("NOOP\r\n");
        var noop = await harness.Client.ReadReplyAsync();
        var quiet = await harness.Client.IsQuietAsync(TimeSpan.FromMilliseconds(300));
        await harness.Client.SendAsync("QUIT\r\n");
        var quit = await harness.Client.ReadReplyAsync();
        var rest = await harness.Client.ReadToTlsEndAsync();
        harness.Client.Disconnect(); // as clients do after 221; the session closing by itself is tested on its own
        await harness.WaitForEndAsync();

        // Assert
        Assert.Equal([GoAhead], goAhead);
        Assert.Equal(["250 2.0.0 Ok"], noop);
        Assert.True(quiet, "no reply to the injected RSET");
        Assert.Equal(["221 2.0.0 Bye"], quit);
        Assert.Equal(string.Empty, rest);
        var backend = await harness.BackendAsync();
        Assert.Equal(["EHLO client.example", "NOOP", "QUIT"], backend.CommandLines);
        Assert.DoesNotContain("RSET", backend.ReceivedText, StringComparison.OrdinalIgnoreCase);
        Assert.Contains(harness.Log.Lines, l => l.StartsWith("Warning: ", StringComparison.Ordinal) && l.Contains("6 octets of cleartext after STARTTLS discarded", StringComparison.Ordinal));
    }

    [Fact]
    public async Task StartTls_MailBeforeEhloAfterHandshake_Replies503AndForwardsNothing()
    {
        // Arrange
        await using var harness = StartTlsHarness();
        await StartTlsAfterEhloAsync(harness);

        // Act
        await harness.Client.SendAsync(Sender + "\r\n");
        var mail = await harness.Client.ReadReplyAsync();
        await harness.Client.SendAsync(SessionHarness.ClientEhlo + "\r\n" + Sender + "\r\n");
        var ehlo = await harness.Client.ReadReplyAsync();
        var mailAgain = await harness.Client.ReadReplyAsync();

        // Assert
        Assert.Equal(["503 5.5.1 Error: send EHLO first"], mail);
        Assert.Equal(EhloAfterTls, ehlo);
        Assert.Equal(["250 2.1.0 Ok"], mailAgain);
        var backend = await harness.BackendAsync();
        Assert.Equal(["EHLO client.example", "EHLO client.example", Sender], backend.CommandLines);
    }

    [Fact]
    public async Task StartTls_AfterSuccessfulAuth_Replies503BecauseTheBackendWouldKeepTheLogin()
    {
        // Arrange
        await using var harness = StartTlsHarness(FakeBackendOptions.Lockstep("AUTH PLAIN LOGIN"), o => o.AllowCleartextAuth = true);
        await harness.StartAndEhloAsync();
        await harness.Client.SendAsync("AUTH LOGIN\r\n");
        Assert.Equal(["334 VXNlcm5hbWU6"], await harness.Client.ReadReplyAsync());
        await harness.Client.SendAsync("dXNlcg==\r\n");
        Assert.Equal(["334 UGFzc3dvcmQ6"], await harness.Client.ReadReplyAsync());
        await harness.Client.SendAsync("c2VjcmV0\r\n");
        Assert.Equal(["235 2.7.0 Authentication successful"], await harness.Client.ReadReplyAsync());

        // Act
        await harness.Client.SendAsync("STARTTLS\r\n");
        var startTls = await harness.Client.ReadReplyAsync();
        await harness.Client.SendAsync("QUIT\r\n");
        var quit = await harness.Client.ReadReplyAsync();
        await harness.WaitForEndAsync();

        // Assert
        Assert.Equal(["503 5.5.1 Error: STARTTLS after AUTH is not supported"], startTls);
        Assert.Equal(["221 2.0.0 Bye"], quit);
        var backend = await harness.BackendAsync();
        Assert.DoesNotContain(backend.CommandLines, l => l.StartsWith("STARTTLS", StringComparison.Ordinal));
    }

    [Fact]
    public async Task StartTls_DuringTransaction_Replies503AndStaysInCleartext()
    {
        // Arrange
        await using var harness = StartTlsHarness();
        await harness.StartAndEhloAsync();
        await harness.Client.SendAsync(Sender + "\r\n");
        Assert.Equal(["250 2.1.0 Ok"], await harness.Client.ReadReplyAsync());

        // Act
        await harness.Client.SendAsync("STARTTLS\r\n");
        var startTls = await harness.Client.ReadReplyAsync();
        await harness.Client.SendAsync(Recipient + "\r\n");
        var rcpt = await harness.Client.ReadReplyAsync();

        // Assert
        Assert.Equal(["503 5.5.1 Error: MAIL transaction in progress"], startTls);
        Assert.Equal(["250 2.1.5 Ok"], rcpt);
        var backend = await harness.BackendAsync();
        Assert.Equal(["EHLO client.example", Sender, Recipient], backend.CommandLines);
    }

    [Fact]
    public async Task StartTls_WhenTlsIsActive_Replies554AndForwardsNothing()
    {
        // Arrange
        await using var harness = StartTlsHarness();
        await StartTlsAfterEhloAsync(harness);
        await harness.Client.SendAsync(SessionHarness.ClientEhlo + "\r\n");
        Assert.Equal(EhloAfterTls, await harness.Client.ReadReplyAsync());

        // Act
        await harness.Client.SendAsync("STARTTLS\r\n");
        var again = await harness.Client.ReadReplyAsync();
        await harness.Client.SendAsync("NOOP\r\n");
        var noop = await harness.Client.ReadReplyAsync();

        // Assert
        Assert.Equal(["554 5.5.1 Error: TLS already active"], again);
        Assert.Equal(["250 2.0.0 Ok"], noop);
        var backend = await harness.BackendAsync();
        Assert.Equal(["EHLO client.example", "EHLO client.example", "NOOP"], backend.CommandLines);
    }

    [Fact]
    public async Task StartTls_WithoutCertificate_NotOfferedAndReplies454EvenWhenTheBackendOffersIt()
    {
        // Arrange: the backend offers STARTTLS itself; the proxy, with no certificate, must not pass that on.
        await using var harness = new SessionHarness(FakeBackendOptions.Lockstep("STARTTLS"));

        // Act
        var ehlo = await harness.StartAndEhloAsync();
        await harness.Client.SendAsync("STARTTLS\r\n");
        var startTls = await harness.Client.ReadReplyAsync();
        await harness.Client.SendAsync("NOOP\r\n");
        var noop = await harness.Client.ReadReplyAsync();

        // Assert
        Assert.Equal(
            ["250-fake.backend Hello client.example", "250-SIZE 10240000", "250-8BITMIME", "250-ENHANCEDSTATUSCODES", "250-PIPELINING", "250-PIPECONNECT",
                "250 CHUNKING"],
            ehlo);
        Assert.Equal(["454 4.7.0 TLS not available"], startTls);
        Assert.Equal(["250 2.0.0 Ok"], noop);
        var backend = await harness.BackendAsync();
        Assert.Equal(["EHLO client.example", "NOOP"], backend.CommandLines);
    }

    [Fact]
    public async Task StartTls_ClientSendsGarbageInsteadOfClientHello_SessionEndsAndBackendGetsNothingMore()
    {
        // Arrange
        await using var harness = StartTlsHarness();
        await harness.StartAndEhloAsync();
        await harness.Client.SendAsync("STARTTLS\r\n");
        Assert.Equal([GoAhead], await harness.Client.ReadReplyAsync());

        // Act: a client that never speaks TLS goes on in cleartext.
        await harness.Client.SendAsync($"{Sender}\r\n{Recipient}\r\nDATA\r\n");
        var rest = await harness.Client.ReadToTlsEndAsync();
        harness.Client.Disconnect(); // as clients do after 221; the session closing by itself is tested on its own
        await harness.WaitForEndAsync();

        // Assert
        Assert.DoesNotContain("250", rest, StringComparison.Ordinal);
        Assert.DoesNotContain("354", rest, StringComparison.Ordinal);
        var backend = await harness.BackendAsync();
        await backend.SessionClosed.WaitAsync(Wire.Patience);
        Assert.Equal("EHLO client.example\r\n", backend.ReceivedText);
        Assert.Contains("end=\"TLS handshake failed\"", SessionLine(harness), StringComparison.Ordinal);
        Assert.DoesNotContain(" X=", SessionLine(harness), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ImplicitTls_BannerOnlyAfterHandshakeAndCommandsRightAfterIt_AreEarlyPipelining()
    {
        // Arrange
        await using var harness = ImplicitTlsHarness();

        // Act
        harness.Start();
        var quietBeforeHandshake = await harness.Client.IsQuietAsync(TimeSpan.FromMilliseconds(400));
        await harness.Client.StartTlsAsync();
        await harness.Client.SendAsync(EarlyCommands);
        var banner = await harness.Client.ReadReplyAsync();
        var ehlo = await harness.Client.ReadReplyAsync();
        var mail = await harness.Client.ReadReplyAsync();
        var rcpt = await harness.Client.ReadReplyAsync();
        var data = await harness.Client.ReadReplyAsync();
        await harness.Client.SendAsync("Hello\r\n.\r\nQUIT\r\n");
        var endOfData = await harness.Client.ReadReplyAsync();
        var quit = await harness.Client.ReadReplyAsync();
        var rest = await harness.Client.ReadToTlsEndAsync();
        harness.Client.Disconnect(); // as clients do after 221; the session closing by itself is tested on its own
        await harness.WaitForEndAsync();

        // Assert
        Assert.True(quietBeforeHandshake, "nothing (no cleartext banner) before the client's handshake");
        Assert.Equal([FakeBackendOptions.FinalBannerLine], banner);
        Assert.Equal(EhloAfterTls, ehlo);
        Assert.Equal(["250 2.1.0 Ok"], mail);
        Assert.Equal(["250 2.1.5 Ok"], rcpt);
        Assert.Equal(["354 End data with <CR><LF>.<CR><LF>"], data);
        Assert.Equal(["250 2.0.0 Ok: queued as 1"], endOfData);
        Assert.Equal(["221 2.0.0 Bye"], quit);
        Assert.Equal(string.Empty, rest);
        Assert.Equal(EarlyPipeUse.Used, harness.Session.EarlyPipeUse);
        var backend = await harness.BackendAsync();
        Assert.True(backend.Violations.Count == 0, backend.Describe());
        Assert.Equal(["EHLO client.example", Sender, Recipient, "DATA", "QUIT"], backend.CommandLines);
        Assert.Equal(["Hello\r\n"], backend.Messages);
        var line = SessionLine(harness);
        Assert.Contains(" L*", line, StringComparison.Ordinal);
        Assert.Contains(ExpectedTlsField(harness.Client), line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ImplicitTls_CommandsBeforeBannerFromHostNotAdvertised_SynchronizationErrorOverTls()
    {
        // Arrange
        await using var harness = ImplicitTlsHarness(configure: o => o.PipeConnect.AdvertiseHosts = ["10.0.0.0/8"]);

        // Act
        harness.Start();
        await harness.Client.StartTlsAsync();
        await harness.Client.SendAsync(EarlyCommands);
        var everything = await harness.Client.ReadToTlsEndAsync();
        harness.Client.Disconnect();
        await harness.WaitForEndAsync();

        // Assert
        Assert.Equal("554 5.5.0 SMTP synchronization error\r\n", everything);
        Assert.True(harness.Client.CloseNotifyReceived, "the session ends TLS with close_notify");
        Assert.Equal(EarlyPipeUse.NotAdvertised, harness.Session.EarlyPipeUse);
        var backend = await harness.BackendAsync();
        Assert.Equal(string.Empty, backend.ReceivedText);
    }

    [Fact]
    public async Task ImplicitTls_ClientWaitsForBannerFromHostNotAdvertised_IsServedNormally()
    {
        // Arrange
        await using var harness = ImplicitTlsHarness(configure: o => o.PipeConnect.AdvertiseHosts = ["10.0.0.0/8"]);

        // Act
        harness.Start();
        await harness.Client.StartTlsAsync();
        var banner = await harness.Client.ReadReplyAsync();
        await harness.Client.SendAsync(SessionHarness.ClientEhlo + "\r\n");
        var ehlo = await harness.Client.ReadReplyAsync();

        // Assert
        Assert.Equal([FakeBackendOptions.FinalBannerLine], banner);
        Assert.Equal(["250-fake.backend Hello client.example", "250-SIZE 10240000", "250-8BITMIME", "250-ENHANCEDSTATUSCODES", "250-PIPELINING", "250 CHUNKING"], ehlo);
        Assert.Equal(EarlyPipeUse.NotAdvertised, harness.Session.EarlyPipeUse);
    }

    [Fact]
    public async Task ImplicitTls_ProxyV2_HeaderCarriesSslTlvWithVersionAndCipher()
    {
        // Arrange
        var script = FakeBackendOptions.Lockstep();
        script.ExpectProxyHeader = ProxyHeaderKind.V2;
        await using var harness = ImplicitTlsHarness(script, o => o.Backend.ClientIdentity = ClientIdentityMode.ProxyV2);

        // Act
        harness.Start();
        await harness.Client.StartTlsAsync();
        var banner = await harness.Client.ReadReplyAsync();
        await harness.Client.SendAsync(SessionHarness.ClientEhlo + "\r\n");
        var ehlo = await harness.Client.ReadReplyAsync();

        // Assert
        Assert.Equal([FakeBackendOptions.FinalBannerLine], banner);
        Assert.Equal("250-fake.backend Hello client.example", ehlo[0]);
        var backend = await harness.BackendAsync();
        var header = backend.ProxyHeader!;
        Assert.NotNull(header);
        var tls = harness.Client.Tls!;
        var version = tls.SslProtocol == SslProtocols.Tls13 ? "TLSv1.3" : "TLSv1.2";
        var cipher = tls.NegotiatedCipherSuite.ToString();

        // 16-octet preamble, TCP4 addresses 127.0.0.7:40007 -> 127.0.0.1:2025, then exactly one PP2_TYPE_SSL TLV.
        Assert.Equal(0x21, header[12]);
        Assert.Equal(0x11, header[13]);
        Assert.Equal(header.Length - 16, BinaryPrimitives.ReadUInt16BigEndian(header.AsSpan(14)));
        Assert.Equal(new byte[] { 127, 0, 0, 7, 127, 0, 0, 1, 0x9C, 0x47, 0x07, 0xE9 }, header[16..28]);
        var expectedTlv = new List<byte> { 0x20 };
        var valueLength = 5 + 3 + version.Length + 3 + cipher.Length;
        expectedTlv.AddRange([(byte)(valueLength >> 8), (byte)valueLength, 0x01, 0, 0, 0, 1]);
        expectedTlv.AddRange([0x21, (byte)(version.Length >> 8), (byte)version.Length, .. Wire.Bytes(version)]);
        expectedTlv.AddRange([0x23, (byte)(cipher.Length >> 8), (byte)cipher.Length, .. Wire.Bytes(cipher)]);
        Assert.Equal(expectedTlv.ToArray(), header[28..]);
    }

    [Fact]
    public async Task SessionLog_WithoutTls_HasNoTlsField()
    {
        // Arrange
        await using var harness = StartTlsHarness();
        await harness.StartAndEhloAsync();

        // Act
        await harness.Client.SendAsync("QUIT\r\n");
        Assert.Equal(["221 2.0.0 Bye"], await harness.Client.ReadReplyAsync());
        await harness.Client.ReadToEndAsync();
        await harness.WaitForEndAsync();

        // Assert
        Assert.DoesNotContain(" X=", SessionLine(harness), StringComparison.Ordinal);
    }

    [Fact]
    public async Task SessionLog_AfterStartTls_HasProtocolAndCipher()
    {
        // Arrange
        await using var harness = StartTlsHarness();
        await StartTlsAfterEhloAsync(harness);

        // Act
        await harness.Client.SendAsync("QUIT\r\n");
        var quit = await harness.Client.ReadReplyAsync();
        var rest = await harness.Client.ReadToTlsEndAsync();
        harness.Client.Disconnect(); // as clients do after 221; the session closing by itself is tested on its own
        await harness.WaitForEndAsync();

        // Assert
        Assert.Equal(["221 2.0.0 Bye"], quit);
        Assert.Equal(string.Empty, rest);
        var line = SessionLine(harness);
        Assert.Matches(@" X=TLS1\.[23]:TLS_[A-Z0-9_]+ ", line);
        Assert.Contains(ExpectedTlsField(harness.Client), line, StringComparison.Ordinal);
        Assert.Contains("end=\"QUIT\"", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StartTls_ClientClosesAfterHandshake_SessionEndsAndClosesBackend()
    {
        // Arrange
        await using var harness = StartTlsHarness();
        await StartTlsAfterEhloAsync(harness);

        // Act
        harness.Client.Disconnect();
        await harness.WaitForEndAsync();

        // Assert
        var backend = await harness.BackendAsync();
        await backend.SessionClosed.WaitAsync(Wire.Patience);
        Assert.Equal(["EHLO client.example"], backend.CommandLines);
    }

    [Fact]
    public async Task StartTls_QuitOverTls_SessionClosesTheConnectionWithoutWaitingForTheClient()
    {
        // Arrange
        await using var harness = StartTlsHarness();
        await StartTlsAfterEhloAsync(harness);

        // Act
        await harness.Client.SendAsync("QUIT\r\n");
        var quit = await harness.Client.ReadReplyAsync();
        var rest = await harness.Client.ReadToEndAsync();
        await harness.WaitForEndAsync();

        // Assert
        Assert.Equal(["221 2.0.0 Bye"], quit);
        Assert.Equal(string.Empty, rest);
        Assert.True(harness.Client.CloseNotifyReceived, "close_notify before the connection closes");
        Assert.Contains("end=\"QUIT\"", SessionLine(harness), StringComparison.Ordinal);
    }

    [Fact]
    public async Task StartTls_IdleClientOverTls_Gets421TimeoutAndTheConnectionIsClosed()
    {
        // Arrange
        await using var harness = StartTlsHarness(configure: o => o.Timeouts.Command = TimeSpan.FromMilliseconds(500));
        await StartTlsAfterEhloAsync(harness);

        // Act: the client says nothing more, and does not hang up either.
        var everything = await harness.Client.ReadToEndAsync();
        await harness.WaitForEndAsync();

        // Assert
        Assert.Equal("421 4.4.2 Error: timeout exceeded\r\n", everything);
        Assert.Contains("end=\"timeout\"", SessionLine(harness), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ImplicitTls_SynchronizationError_SessionClosesTheConnectionWithoutWaitingForTheClient()
    {
        // Arrange
        await using var harness = ImplicitTlsHarness(configure: o => o.PipeConnect.AdvertiseHosts = ["10.0.0.0/8"]);

        // Act
        harness.Start();
        await harness.Client.StartTlsAsync();
        await harness.Client.SendAsync(EarlyCommands);
        var everything = await harness.Client.ReadToEndAsync();
        await harness.WaitForEndAsync();

        // Assert
        Assert.Equal("554 5.5.0 SMTP synchronization error\r\n", everything);
    }
}
