using EarlyPipeProxy.Sessions.Tests.TestSupport;

namespace EarlyPipeProxy.Sessions.Tests;

/// <summary>The backend's EHLO reply as the client sees it.</summary>
public sealed class EhloRewriteTests
{
    [Fact]
    public async Task RunAsync_BackendOffersXclientXforwardStartTlsPipeConnect_HidesThemKeepsOthersAndAddsPipelining()
    {
        // Arrange
        var script = new FakeBackendOptions
        {
            Keywords =
            [
                "SIZE 10240000", "XCLIENT NAME ADDR PORT PROTO HELO LOGIN", "8BITMIME", "XFORWARD NAME ADDR PROTO HELO",
                "STARTTLS", "PIPECONNECT", "CHUNKING", "AUTH PLAIN LOGIN", "ENHANCEDSTATUSCODES", "SMTPUTF8",
            ],
        };
        await using var harness = new SessionHarness(script, o => o.AllowCleartextAuth = true);

        // Act
        var ehlo = await harness.StartAndEhloAsync();

        // Assert
        Assert.Equal(
            [
                "250-fake.backend Hello client.example", "250-SIZE 10240000", "250-8BITMIME", "250-CHUNKING", "250-AUTH PLAIN LOGIN",
                "250-ENHANCEDSTATUSCODES", "250-SMTPUTF8", "250-PIPELINING", "250 PIPECONNECT",
            ],
            ehlo);
    }

    [Fact]
    public async Task RunAsync_NonAdvertisedHostAndBackendOffersPipeConnect_HidesBackendsPipeConnect()
    {
        // Arrange
        var script = new FakeBackendOptions { Keywords = ["PIPELINING", "PIPECONNECT", "X_PIPE_CONNECT", "pipe_connect", "xclient ADDR", "8BITMIME"] };
        await using var harness = new SessionHarness(script, o => o.PipeConnect.AdvertiseHosts = ["192.0.2.1"]);

        // Act
        var ehlo = await harness.StartAndEhloAsync();

        // Assert
        Assert.Equal(["250-fake.backend Hello client.example", "250-PIPELINING", "250-8BITMIME", "250 CHUNKING"], ehlo);
    }

    [Fact]
    public async Task RunAsync_CustomPipeConnectKeyword_AdvertisesThatKeywordRightAfterPipelining()
    {
        // Arrange
        await using var harness = new SessionHarness(FakeBackendOptions.Pipelining(), o => o.PipeConnect.Keyword = "X_PIPE_CONNECT");

        // Act
        var ehlo = await harness.StartAndEhloAsync();

        // Assert
        Assert.Equal(
            [
                "250-fake.backend Hello client.example", "250-SIZE 10240000", "250-PIPELINING", "250-X_PIPE_CONNECT", "250-8BITMIME",
                "250-ENHANCEDSTATUSCODES", "250 CHUNKING",
            ],
            ehlo);
    }
}
