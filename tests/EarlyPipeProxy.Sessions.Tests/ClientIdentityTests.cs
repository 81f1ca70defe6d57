using EarlyPipeProxy.Sessions.Configuration;
using EarlyPipeProxy.Sessions.Tests.TestSupport;

namespace EarlyPipeProxy.Sessions.Tests;

/// <summary>How the backend learns the client's address: XCLIENT after its greeting, or a PROXY header before it.</summary>
public sealed class ClientIdentityTests
{
    [Fact]
    public async Task RunAsync_XclientMode_SendsEhloAndXclientBeforeAnythingOfTheClients()
    {
        // Arrange
        await using var harness = new SessionHarness(
            FakeBackendOptions.Lockstep("XCLIENT NAME ADDR PORT PROTO HELO LOGIN"),
            o => o.Backend.ClientIdentity = ClientIdentityMode.Xclient);
        await harness.Client.SendAsync(SessionHarness.ClientEhlo + "\r\nMAIL FROM:<alice@example.org>\r\n");

        // Act
        harness.Start();
        var banner = await harness.Client.ReadReplyAsync();
        var ehlo = await harness.Client.ReadReplyAsync();
        var mail = await harness.Client.ReadReplyAsync();

        // Assert
        Assert.Equal([FakeBackendOptions.FinalBannerLine], banner);
        Assert.DoesNotContain(ehlo, line => line.Contains("XCLIENT", StringComparison.OrdinalIgnoreCase));
        Assert.Equal(["250 2.1.0 Ok"], mail);
        var backend = await harness.BackendAsync();
        Assert.True(backend.Violations.Count == 0, backend.Describe());
        Assert.Equal(
            ["EHLO proxy.test", "XCLIENT ADDR=127.0.0.7 PORT=40007 NAME=[UNAVAILABLE]", "EHLO client.example", "MAIL FROM:<alice@example.org>"],
            backend.CommandLines);
        Assert.StartsWith("EHLO proxy.test\r\nXCLIENT ADDR=127.0.0.7 PORT=40007 NAME=[UNAVAILABLE]\r\nEHLO client.example\r\n", backend.ReceivedText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_XclientModeAndBackendWithoutXclient_Replies421AndSendsNothingOfTheClients()
    {
        // Arrange
        await using var harness = new SessionHarness(FakeBackendOptions.Lockstep(), o => o.Backend.ClientIdentity = ClientIdentityMode.Xclient);
        await harness.Client.SendAsync(SessionHarness.ClientEhlo + "\r\n");

        // Act
        harness.Start();
        var everything = await harness.Client.ReadToEndAsync();
        await harness.WaitForEndAsync();

        // Assert
        Assert.Equal("421 4.4.2 Service not available: backend connection failed\r\n", everything);
        var backend = await harness.BackendAsync();
        Assert.Equal("EHLO proxy.test\r\n", backend.ReceivedText);
    }

    [Fact]
    public async Task RunAsync_ProxyV1Mode_HeaderIsTheFirstBytesTheBackendReceives()
    {
        // Arrange
        var script = FakeBackendOptions.Lockstep();
        script.ExpectProxyHeader = ProxyHeaderKind.V1;
        await using var harness = new SessionHarness(script, o => o.Backend.ClientIdentity = ClientIdentityMode.ProxyV1);
        await harness.Client.SendAsync(SessionHarness.ClientEhlo + "\r\n");

        // Act
        harness.Start();
        var banner = await harness.Client.ReadReplyAsync();
        var ehlo = await harness.Client.ReadReplyAsync();

        // Assert
        Assert.Equal([FakeBackendOptions.FinalBannerLine], banner);
        Assert.Equal("250-fake.backend Hello client.example", ehlo[0]);
        var backend = await harness.BackendAsync();
        Assert.True(backend.Violations.Count == 0, backend.Describe());
        const string header = "PROXY TCP4 127.0.0.7 127.0.0.1 40007 2025\r\n";
        Assert.Equal(header, Wire.Text(backend.ProxyHeader));
        Assert.StartsWith(header + "EHLO client.example\r\n", backend.ReceivedText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_ProxyV2Mode_HeaderIsTheFirstBytesTheBackendReceives()
    {
        // Arrange
        var script = FakeBackendOptions.Lockstep();
        script.ExpectProxyHeader = ProxyHeaderKind.V2;
        await using var harness = new SessionHarness(script, o => o.Backend.ClientIdentity = ClientIdentityMode.ProxyV2);
        await harness.Client.SendAsync(SessionHarness.ClientEhlo + "\r\n");

        // Act
        harness.Start();
        var banner = await harness.Client.ReadReplyAsync();
        var ehlo = await harness.Client.ReadReplyAsync();

        // Assert
        Assert.Equal([FakeBackendOptions.FinalBannerLine], banner);
        Assert.Equal("250-fake.backend Hello client.example", ehlo[0]);
        var backend = await harness.BackendAsync();
        Assert.True(backend.Violations.Count == 0, backend.Describe());
        byte[] header =
        [
            0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A, // signature
            0x21, 0x11, 0x00, 0x0C, // v2 PROXY, TCP over IPv4, 12 octets of addresses
            127, 0, 0, 7, 127, 0, 0, 1, // source, destination
            0x9C, 0x47, 0x07, 0xE9, // ports 40007, 2025
        ];
        Assert.Equal(header, backend.ProxyHeader);
        Assert.StartsWith(Wire.Text(header) + "EHLO client.example\r\n", backend.ReceivedText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_TransparentMode_ConnectsFromTheClientsAddressAndSendsNoIntroduction()
    {
        // Arrange: a backend that would take XCLIENT; transparent mode must not use it.
        await using var harness = new SessionHarness(
            FakeBackendOptions.Lockstep("XCLIENT NAME ADDR PORT PROTO HELO LOGIN"),
            o => o.Backend.ClientIdentity = ClientIdentityMode.Transparent);
        await harness.Client.SendAsync(SessionHarness.ClientEhlo + "\r\nMAIL FROM:<alice@example.org>\r\n");

        // Act
        harness.Start();
        var banner = await harness.Client.ReadReplyAsync();
        await harness.Client.ReadReplyAsync();
        var mail = await harness.Client.ReadReplyAsync();

        // Assert
        Assert.Equal([FakeBackendOptions.FinalBannerLine], banner);
        Assert.Equal(["250 2.1.0 Ok"], mail);
        Assert.Equal([SessionHarness.DefaultClientEndPoint], harness.Connector.TransparentSources);
        var backend = await harness.BackendAsync();
        Assert.True(backend.Violations.Count == 0, backend.Describe());
        Assert.Null(backend.ProxyHeader);
        Assert.Equal(["EHLO client.example", "MAIL FROM:<alice@example.org>"], backend.CommandLines);
    }
}
