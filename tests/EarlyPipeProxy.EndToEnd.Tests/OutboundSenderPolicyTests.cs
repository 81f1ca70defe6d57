using EarlyPipeProxy.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace EarlyPipeProxy.EndToEnd.Tests;

/// <summary>
/// Who an outbound listener relays for (issue 11 item 12), on the real proxy process: a sender outside
/// <c>AllowedSenders</c> is refused with 554 5.7.1 before anything is relayed; one inside is served.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class OutboundSenderPolicyTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_sender_outside_AllowedSenders_is_refused_and_one_inside_is_served()
    {
        // Arrange: the upstream is a closed port, so an allowed sender meets the remote's failure (421), not the policy.
        var listen = Peers.FreePort();
        var closedUpstream = Peers.FreePort();
        var sections = new Dictionary<string, object>
        {
            ["Outbound"] = new[]
            {
                new
                {
                    Name = "smarthost",
                    Listen = $"127.0.0.1:{listen}",
                    Upstream = $"127.0.0.1:{closedUpstream}",
                    AllowedSenders = new[] { "127.0.0.2/32" },
                },
            },
        };
        await using var proxy = await ProxyProcess.StartAsync(output, sections);
        await Poll.UntilAsync(() => Peers.IsListening(listen), "the outbound listener", TimeSpan.FromSeconds(30));

        // Act
        await using var outsider = await RawSmtpClient.ConnectAsync("127.0.0.1", listen, localAddress: "127.0.0.1");
        var refused = await outsider.ReadReplyAsync();
        await using var insider = await RawSmtpClient.ConnectAsync("127.0.0.1", listen, localAddress: "127.0.0.2");
        var served = await insider.ReadReplyAsync();

        // Assert
        output.WriteLine($"outsider: {refused}\ninsider: {served}");
        Assert.NotNull(refused);
        Assert.Equal(554, refused.Code);
        Assert.StartsWith("554 5.7.1", refused.Lines[0], StringComparison.Ordinal);
        Assert.Null(await outsider.ReadReplyAsync(TimeSpan.FromSeconds(5)));
        Assert.NotNull(served);
        Assert.NotEqual(554, served.Code);
        await proxy.WaitForOutputAsync(l => l.Contains("sender not allowed: refused H=[127.0.0.1]", StringComparison.Ordinal), "the refusal logged");
    }
}
