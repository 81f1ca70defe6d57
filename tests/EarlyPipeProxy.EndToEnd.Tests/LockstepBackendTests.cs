using EarlyPipeProxy.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace EarlyPipeProxy.EndToEnd.Tests;

/// <summary>
/// Test 3: behind the proxy, a strict lockstep Exim (no PIPELINING, smtp_enforce_sync) never sees a command
/// before it answered the previous one, while the client still early-pipelines to the proxy.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class LockstepBackendTests(PostfixFixture postfix, ITestOutputHelper output)
{
    [SkippableFact]
    public async Task Early_pipelined_client_is_replayed_in_lockstep_to_a_strict_Exim()
    {
        await postfix.EnsureStartedAsync();
        var proxyProtocol = await EximServer.SupportsProxyProtocolAsync();
        var settings = new Dictionary<string, string>
        {
            ["EXIM_PIPELINING"] = "0",
            ["EXIM_PIPE_CONNECT"] = "0",
            ["EXIM_REJECT_PREFIX"] = "reject",
        };
        if (proxyProtocol)
        {
            settings["EXIM_HOSTS_PROXY"] = "127.0.0.1";
        }

        await using var server = await EximServer.StartAsync("e2e-strict", settings);
        await using var proxy = await ProxyProcess.StartAsync(output, new ListenerSpec("strict", server.Port, proxyProtocol ? "ProxyV2" : "None"));
        var mark = server.Log.Mark();
        var id = Ids.New("strict");
        var options = new EximSendOptions { ToPort = proxy["strict"].ListenPort, Interface = "127.0.0.2", ResetCache = true };
        string[] first = [$"ok-a-{id}@strict.test", $"reject-b-{id}@strict.test", $"ok-c-{id}@strict.test"];
        string[] second = [$"reject-d-{id}@strict.test", $"ok-e-{id}@strict.test", $"reject-f-{id}@strict.test", $"ok-g-{id}@strict.test"];

        var r1 = await EximClient.SendAsync(options, Messages.Simple(id + "-1"), first);
        output.WriteLine(r1.ToString());
        var r2 = await EximClient.SendAsync(options with { ResetCache = false }, Messages.Simple(id + "-2"), second);
        output.WriteLine(r2.ToString());

        Assert.True(r1.Delivered, r1.ToString());
        Assert.True(r2.Delivered, r2.ToString());
        Assert.True(r2.EarlyPipelined, "second connection should be early-pipelined (L*):\n" + r2);
        foreach (var (rcpts, result) in new[] { (first, r1), (second, r2) })
        {
            foreach (var rcpt in rcpts)
            {
                var rejected = rcpt.StartsWith("reject", StringComparison.Ordinal);
                Assert.Contains(result.LogLines, l => l.Contains(rcpt, StringComparison.Ordinal) && l.Contains(rejected ? " ** " : "> ", StringComparison.Ordinal));
            }
        }

        foreach (var rcpt in first.Concat(second).Where(r => r.StartsWith("ok", StringComparison.Ordinal)))
        {
            await server.Maildir.WaitForMessageAsync("Envelope-to: " + rcpt);
        }

        var serverLog = server.Log.ReadSince(mark);
        output.WriteLine("--- Exim server log\n" + serverLog);
        Assert.DoesNotContain("synchronization error", serverLog, StringComparison.Ordinal);
        foreach (var rcpt in first.Concat(second).Where(r => r.StartsWith("reject", StringComparison.Ordinal)))
        {
            Assert.Empty(server.Maildir.MessagesContaining(rcpt));
            Assert.Contains($"rejected RCPT <{rcpt}>", serverLog, StringComparison.Ordinal);
        }

        if (proxyProtocol)
        {
            Assert.Contains(server.Log.LinesSince(mark), l => l.Contains(" <= ", StringComparison.Ordinal) && l.Contains("[127.0.0.2]", StringComparison.Ordinal));
        }
    }
}
