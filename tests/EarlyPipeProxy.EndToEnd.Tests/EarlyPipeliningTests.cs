using EarlyPipeProxy.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace EarlyPipeProxy.EndToEnd.Tests;

/// <summary>Test 1: an Exim client early-pipelines through the proxy to lockstep-only Postfix.</summary>
[Collection(EndToEndCollection.Name)]
public sealed class EarlyPipeliningTests(PostfixFixture postfix, ITestOutputHelper output)
{
    [SkippableTheory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Second_connection_is_early_pipelined_and_both_messages_arrive_intact(bool chunking)
    {
        await postfix.EnsureStartedAsync();
        await using var proxy = await ProxyProcess.StartAsync(output, new ListenerSpec("smtp", postfix.SmtpPort, "Xclient"));
        var id = Ids.New(chunking ? "early-bdat" : "early-data");
        var mark = postfix.Log.Mark();
        var options = new EximSendOptions { ToPort = proxy["smtp"].ListenPort, Chunking = chunking, ResetCache = true };

        var first = await EximClient.SendAsync(options, Messages.WithDots(id + "-1"), PostfixFixture.Address(id + "-1"));
        output.WriteLine(first.ToString());
        var second = await EximClient.SendAsync(options with { ResetCache = false }, Messages.WithDots(id + "-2"), PostfixFixture.Address(id + "-2"));
        output.WriteLine(second.ToString());

        Assert.True(first.Delivered, "first message not delivered:\n" + first);
        Assert.True(second.Delivered, "second message not delivered:\n" + second);
        Assert.True(first.PlainPipelined, "first connection (no cached EHLO) should be 'L' without '*':\n" + first);
        Assert.True(second.EarlyPipelined, "second connection should be early-pipelined ('L*'):\n" + second);
        var usedBdat = second.DeliveryLines.All(l => l.Contains(" K ", StringComparison.Ordinal));
        Assert.True(usedBdat == chunking, $"CHUNKING={chunking} but the client log says K={usedBdat}:\n{second}");

        foreach (var n in new[] { "-1", "-2" })
        {
            var stored = await postfix.Maildir.WaitForMessageAsync("X-Marker: " + id + n);
            Assert.Equal(Messages.WithDotsBody, Maildir.Body(stored));
        }

        await postfix.WaitForSessionsToEndAsync(mark, minSessions: 2);
        postfix.AssertNoPipeliningViolations(mark);
        output.WriteLine("proxy: " + await proxy.WaitForEarlySessionLineAsync());
    }
}
