using EarlyPipeProxy.Sessions.Configuration;
using EarlyPipeProxy.Sessions.Tests.TestSupport;

namespace EarlyPipeProxy.Sessions.Tests;

/// <summary>The backend's greeting: nothing reaches the backend before its final line, the client gets all of it.</summary>
public sealed class BannerTests
{
    private static readonly string[] TeaserBanner = ["220-fake.backend ESMTP teaser: please wait", FakeBackendOptions.FinalBannerLine];

    [Theory]
    [InlineData(ClientIdentityMode.None)]
    [InlineData(ClientIdentityMode.Xclient)]
    public async Task RunAsync_MultiLineBannerWithPause_SendsNothingBeforeFinalLineAndRelaysWholeBanner(ClientIdentityMode identity)
    {
        // Arrange
        var script = FakeBackendOptions.Lockstep("XCLIENT NAME ADDR PORT PROTO HELO LOGIN");
        script.Banner = TeaserBanner;
        script.BannerLinePause = TimeSpan.FromMilliseconds(300);
        await using var harness = new SessionHarness(script, o => o.Backend.ClientIdentity = identity);
        await harness.Client.SendAsync(SessionHarness.ClientEhlo + "\r\nNOOP\r\n");

        // Act
        harness.Start();
        var backend = await harness.BackendAsync();
        var banner = await harness.Client.ReadReplyAsync();
        var ehlo = await harness.Client.ReadReplyAsync();
        var noop = await harness.Client.ReadReplyAsync();

        // Assert
        Assert.Equal(TeaserBanner, banner);
        Assert.Equal("250-fake.backend Hello client.example", ehlo[0]);
        Assert.Equal(["250 2.0.0 Ok"], noop);
        Assert.True(backend.Violations.Count == 0, backend.Describe());
        Assert.True(backend.GreetingSent);
        var expected = identity == ClientIdentityMode.Xclient
            ? new[] { "EHLO proxy.test", "XCLIENT ADDR=127.0.0.7 PORT=40007 NAME=[UNAVAILABLE]", "EHLO client.example", "NOOP" }
            : ["EHLO client.example", "NOOP"];
        Assert.Equal(expected, backend.CommandLines);
    }

    [Fact]
    public async Task RunAsync_BackendRefusesWith554Banner_RelaysItAndCloses()
    {
        // Arrange
        var script = FakeBackendOptions.Lockstep();
        script.Banner = ["554 5.7.1 fake.backend: no SMTP service here"];
        await using var harness = new SessionHarness(script);
        await harness.Client.SendAsync(SessionHarness.ClientEhlo + "\r\n");

        // Act
        harness.Start();
        var everything = await harness.Client.ReadToEndAsync();
        await harness.WaitForEndAsync();

        // Assert
        Assert.Equal("554 5.7.1 fake.backend: no SMTP service here\r\n", everything);
        var backend = await harness.BackendAsync();
        Assert.Equal(string.Empty, backend.ReceivedText);
    }
}
