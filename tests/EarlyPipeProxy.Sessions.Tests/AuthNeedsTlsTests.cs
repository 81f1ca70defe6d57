using EarlyPipeProxy.Sessions.Tests.TestSupport;

namespace EarlyPipeProxy.Sessions.Tests;

/// <summary>
/// Issue 11 item 5: AUTH only where the client is protected. Over cleartext AUTH is neither offered nor relayed
/// (530 5.7.0, Postfix's smtpd_tls_auth_only wording) unless the listener allows it, also when the link to the
/// backend is TLS; after STARTTLS it is offered and relayed.
/// </summary>
public sealed class AuthNeedsTlsTests
{
    [Fact]
    public async Task Cleartext_AuthIsHiddenAndRefusedWith530AndNeverReachesTheBackend()
    {
        // Arrange: a backend that offers AUTH in both spellings.
        await using var harness = new SessionHarness(FakeBackendOptions.Lockstep("AUTH PLAIN LOGIN", "AUTH=PLAIN LOGIN"), TestCertificate.Configure);
        var ehlo = await harness.StartAndEhloAsync();

        // Act: a client that tries anyway, with an initial response carrying the credentials.
        var auth = await CommandAsync(harness, "AUTH PLAIN AHVzZXIAc2VjcmV0");
        var quit = await CommandAsync(harness, "QUIT");
        await harness.WaitForEndAsync();

        // Assert
        Assert.DoesNotContain(ehlo, l => l[4..].StartsWith("AUTH", StringComparison.OrdinalIgnoreCase));
        Assert.Contains(ehlo, l => l[4..] == "STARTTLS");
        Assert.Equal(["530 5.7.0 Must issue a STARTTLS command first"], auth);
        Assert.Equal(["221 2.0.0 Bye"], quit);
        var backend = await harness.BackendAsync();
        Assert.DoesNotContain(backend.CommandLines, l => l.StartsWith("AUTH", StringComparison.OrdinalIgnoreCase));
        Assert.DoesNotContain("AHVzZXIAc2VjcmV0", backend.ReceivedText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AfterStartTls_AuthIsOfferedAndRelayed()
    {
        // Arrange
        await using var harness = new SessionHarness(FakeBackendOptions.Lockstep("AUTH PLAIN LOGIN"), TestCertificate.Configure);
        await harness.StartAndEhloAsync();
        Assert.Equal(["220 2.0.0 Ready to start TLS"], await CommandAsync(harness, "STARTTLS"));
        await harness.Client.StartTlsAsync();

        // Act
        var ehlo = await CommandAsync(harness, SessionHarness.ClientEhlo);
        var challenge = await CommandAsync(harness, "AUTH LOGIN");
        await CommandAsync(harness, "dXNlcg==");
        var verdict = await CommandAsync(harness, "c2VjcmV0");
        await CommandAsync(harness, "QUIT");
        await harness.WaitForEndAsync();

        // Assert
        Assert.Contains("250-AUTH PLAIN LOGIN", ehlo);
        Assert.Equal(["334 VXNlcm5hbWU6"], challenge);
        Assert.Equal(["235 2.7.0 Authentication successful"], verdict);
        var backend = await harness.BackendAsync();
        Assert.Contains("AUTH LOGIN", backend.CommandLines);
        Assert.Equal(["dXNlcg==", "c2VjcmV0"], backend.AuthAnswers);
    }

    [Fact]
    public async Task AllowCleartextAuth_OffersAndRelaysItWithoutTls()
    {
        // Arrange
        await using var harness = new SessionHarness(FakeBackendOptions.Lockstep("AUTH PLAIN LOGIN"), o => o.AllowCleartextAuth = true);
        var ehlo = await harness.StartAndEhloAsync();

        // Act
        var auth = await CommandAsync(harness, "AUTH LOGIN");

        // Assert
        Assert.Contains("250-AUTH PLAIN LOGIN", ehlo);
        Assert.Equal(["334 VXNlcm5hbWU6"], auth);
    }

    private static async Task<string[]> CommandAsync(SessionHarness harness, string command)
    {
        await harness.Client.SendAsync(command + "\r\n");
        return [.. await harness.Client.ReadReplyAsync()];
    }
}
