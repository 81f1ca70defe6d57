using EarlyPipeProxy.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace EarlyPipeProxy.EndToEnd.Tests;

/// <summary>Every listener caps its connections: past the cap a client is told so at once, and a freed slot is reused.</summary>
[Collection(EndToEndCollection.Name)]
public sealed class ConnectionLimitTests(PostfixFixture postfix, ITestOutputHelper output)
{
    [SkippableFact]
    public async Task Connection_past_MaxConnections_gets_421_and_a_freed_slot_serves_again()
    {
        await postfix.EnsureStartedAsync();
        await using var proxy = await ProxyProcess.StartAsync(output, new ListenerSpec("smtp", postfix.SmtpPort, "Xclient") { MaxConnections = 2 });
        var port = proxy["smtp"].ListenPort;

        await using var first = await RawSmtpClient.ConnectAsync("127.0.0.1", port);
        await first.ExpectAsync(220);
        await using var second = await RawSmtpClient.ConnectAsync("127.0.0.1", port);
        await second.ExpectAsync(220);

        await using (var third = await RawSmtpClient.ConnectAsync("127.0.0.1", port))
        {
            var refused = await third.ReadRepliesUntilCloseAsync(TimeSpan.FromSeconds(10));
            output.WriteLine(third.Transcript);
            var only = Assert.Single(refused);
            Assert.Equal(421, only.Code);
            Assert.Contains("4.7.0", only.Text, StringComparison.Ordinal);
        }

        await first.CommandAsync("QUIT", 221);
        await Poll.UntilAsync(
            () => proxy.OutputLines.Any(l => l.Contains(" session ", StringComparison.Ordinal) && l.Contains("end=\"QUIT\"", StringComparison.Ordinal)),
            "the first session's end");

        await using var fourth = await RawSmtpClient.ConnectAsync("127.0.0.1", port);
        await fourth.ExpectAsync(220);
        await fourth.CommandAsync("EHLO limit.test", 250);
        await fourth.CommandAsync("QUIT", 221);
        Assert.Contains(proxy.OutputLines, l => l.Contains("connection limit reached", StringComparison.Ordinal));
    }
}
