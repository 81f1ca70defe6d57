using EarlyPipeProxy.Sessions.Configuration;
using EarlyPipeProxy.Sessions.Tests.TestSupport;

namespace EarlyPipeProxy.Sessions.Tests.Inbound;

/// <summary>
/// The sessions after one that read the backend's XCLIENT offer introduce their clients right after the banner, without
/// the proxy's own EHLO; a refusal sends the session the long way, EHLO first, and the client never notices.
/// </summary>
public sealed class XclientOfferMemoryTests
{
    private const string Postfix37Xclient = "XCLIENT NAME ADDR PROTO HELO REVERSE_NAME PORT LOGIN DESTADDR DESTPORT";
    private const string Introduction = "XCLIENT ADDR=127.0.0.7 PORT=40007 NAME=[UNAVAILABLE] REVERSE_NAME=[UNAVAILABLE] DESTADDR=127.0.0.1 DESTPORT=2025";

    private static void Xclient(InboundListenerOptions options) => options.Backend.ClientIdentity = ClientIdentityMode.Xclient;

    private static async Task<IReadOnlyList<string>> RunToMailAsync(SessionHarness harness)
    {
        await harness.Client.SendAsync(SessionHarness.ClientEhlo + "\r\nMAIL FROM:<alice@example.org>\r\n");
        harness.Start();
        Assert.Equal([FakeBackendOptions.FinalBannerLine], await harness.Client.ReadReplyAsync());
        Assert.StartsWith("250-", (await harness.Client.ReadReplyAsync())[0], StringComparison.Ordinal);
        Assert.Equal(["250 2.1.0 Ok"], await harness.Client.ReadReplyAsync());
        var backend = await harness.BackendAsync();
        Assert.True(backend.Violations.Count == 0, backend.Describe());
        return backend.CommandLines;
    }

    [Fact]
    public async Task IntroduceClient_OfferReadBySessionBefore_XclientRightAfterTheBanner()
    {
        // Arrange
        await using var first = new SessionHarness(FakeBackendOptions.Lockstep(Postfix37Xclient), Xclient);
        var firstCommands = await RunToMailAsync(first);
        await using var second = new SessionHarness(FakeBackendOptions.Lockstep(Postfix37Xclient), listener: first.Listener);

        // Act
        var secondCommands = await RunToMailAsync(second);

        // Assert
        Assert.Equal(["EHLO proxy.test", Introduction, "EHLO client.example", "MAIL FROM:<alice@example.org>"], firstCommands);
        Assert.Equal([Introduction, "EHLO client.example", "MAIL FROM:<alice@example.org>"], secondCommands);
    }

    [Fact]
    public async Task IntroduceClient_RememberedOfferRefused_EhloThenXclientAndLaterSessionsAskFirst()
    {
        // Arrange
        await using var first = new SessionHarness(FakeBackendOptions.Lockstep(Postfix37Xclient), Xclient);
        await RunToMailAsync(first);
        var changed = FakeBackendOptions.Lockstep(Postfix37Xclient);
        changed.FirstXclientReply = "501 5.5.4 Bad XCLIENT attribute name: DESTADDR";
        await using var second = new SessionHarness(changed, listener: first.Listener);

        // Act
        var secondCommands = await RunToMailAsync(second);

        // Assert
        Assert.Equal([Introduction, "EHLO proxy.test", Introduction, "EHLO client.example", "MAIL FROM:<alice@example.org>"], secondCommands);
        await using var third = new SessionHarness(FakeBackendOptions.Lockstep(Postfix37Xclient), listener: first.Listener);
        Assert.Equal(["EHLO proxy.test", Introduction, "EHLO client.example", "MAIL FROM:<alice@example.org>"], await RunToMailAsync(third));
    }

    [Fact]
    public async Task IntroduceClient_RememberedOfferAnswered421_SessionRefusedWithoutRetry()
    {
        // Arrange
        await using var first = new SessionHarness(FakeBackendOptions.Lockstep(Postfix37Xclient), Xclient);
        await RunToMailAsync(first);
        var closing = FakeBackendOptions.Lockstep(Postfix37Xclient);
        closing.FirstXclientReply = "421 4.3.2 Service shutting down";
        await using var second = new SessionHarness(closing, listener: first.Listener);

        // Act
        await second.Client.SendAsync(SessionHarness.ClientEhlo + "\r\n");
        second.Start();
        var everything = await second.Client.ReadToEndAsync();
        await second.WaitForEndAsync();

        // Assert
        Assert.StartsWith("421 ", everything, StringComparison.Ordinal);
        var backend = await second.BackendAsync();
        Assert.Equal([Introduction], backend.CommandLines);
    }
}
