using EarlyPipeProxy.Sessions.Tests.TestSupport;

namespace EarlyPipeProxy.Sessions.Tests;

/// <summary>How a session ends when the client goes away or stops talking, and what the backend connection gets.</summary>
public sealed class SessionLifetimeTests
{
    [Fact]
    public async Task RunAsync_ClientClosesBetweenTransactions_ClosesBackendPolitely()
    {
        // Arrange
        await using var harness = new SessionHarness(FakeBackendOptions.Lockstep());
        await harness.StartAndEhloAsync();

        // Act
        harness.Client.Disconnect();
        await harness.WaitForEndAsync();

        // Assert
        var backend = await harness.BackendAsync();
        Assert.False(await backend.SessionClosed.WaitAsync(Wire.Patience));
    }

    [Fact]
    public async Task RunAsync_ClientClosesAfterMail_AbortsBackend()
    {
        // Arrange
        await using var harness = new SessionHarness(FakeBackendOptions.Lockstep());
        await harness.StartUpToRecipientAsync();

        // Act
        harness.Client.Disconnect();
        await harness.WaitForEndAsync();

        // Assert
        var backend = await harness.BackendAsync();
        Assert.True(await backend.SessionClosed.WaitAsync(Wire.Patience), "an open transaction must not be closed politely");
    }

    [Fact]
    public async Task RelayBody_ClientIdleAfterHeldBackCr_Replies421AfterDataTimeoutAndAbortsBackend()
    {
        // Arrange
        await using var harness = new SessionHarness(FakeBackendOptions.Lockstep(), o => o.Timeouts.Data = TimeSpan.FromMilliseconds(300));
        await harness.StartUpToDataAsync();

        // Act: the body stops after a CR whose LF never comes.
        await harness.Client.SendAsync("Subject: test\r\n\r\nHello\r");
        var everything = await harness.Client.ReadToEndAsync();
        await harness.WaitForEndAsync();

        // Assert
        Assert.Equal("421 4.4.2 Error: timeout exceeded\r\n", everything);
        var backend = await harness.BackendAsync();
        Assert.True(await backend.SessionClosed.WaitAsync(Wire.Patience), "a half-relayed message must be reset");
        Assert.Empty(backend.Messages);
    }

    [Fact]
    public async Task RunAsync_CloseRequestedWhileWaitingForBanner_Replies421RatherThanSilence()
    {
        // Arrange
        var script = FakeBackendOptions.Lockstep();
        script.Banner = ["220-fake.backend ESMTP teaser", FakeBackendOptions.FinalBannerLine];
        script.BannerLinePause = TimeSpan.FromMilliseconds(300);
        await using var harness = new SessionHarness(script);

        // Act: the client waits for the banner (no early input); the host shuts down meanwhile.
        harness.Start();
        await Task.Delay(100);
        harness.RequestClose();
        var everything = await harness.Client.ReadToEndAsync();
        await harness.WaitForEndAsync();

        // Assert
        Assert.True(everything.EndsWith("421 4.3.2 Service shutting down\r\n", StringComparison.Ordinal), $"got '{Wire.Visible(everything)}'\n{harness.Describe()}");
    }
}
