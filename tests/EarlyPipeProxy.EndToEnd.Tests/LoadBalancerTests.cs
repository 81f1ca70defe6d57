using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Text;
using EarlyPipeProxy.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace EarlyPipeProxy.EndToEnd.Tests;

/// <summary>
/// Scaling out: two proxy instances behind a real HAProxy in TCP mode (`send-proxy-v2`, health checks on /healthz), in
/// front of one Postfix. The client Postfix records is the one that connected to HAProxy; early pipelining works
/// through it; a header from anyone but HAProxy is refused; and a graceful stop of one instance while mail flows loses and duplicates nothing.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class LoadBalancerTests(PostfixFixture postfix, ITestOutputHelper output)
{
    private sealed record Instance(ProxyProcess Proxy, int MetricsPort) : IAsyncDisposable
    {
        public int SmtpPort => Proxy["smtp"].ListenPort;

        public ValueTask DisposeAsync() => Proxy.DisposeAsync();
    }

    private async Task<Instance> StartInstanceAsync()
    {
        var metricsPort = Peers.FreePort();
        var sections = new Dictionary<string, object>
        {
            ["Metrics"] = new { Listen = $"127.0.0.1:{metricsPort}", ProbeInterval = "1s" },
            ["ShutdownTimeout"] = "12s",
        };
        // HAProxy connects from 127.0.0.1: the only balancer. The clients are 127.0.0.2 and 127.0.0.3.
        var proxy = await ProxyProcess.StartAsync(output, sections,
            new ListenerSpec("smtp", postfix.SmtpPort, "Xclient") { AcceptProxyHeaderFrom = ["127.0.0.1"] });
        return new Instance(proxy, metricsPort);
    }

    private async Task<(Instance A, Instance B, HaproxyBalancer Balancer)> StartAllAsync()
    {
        await postfix.EnsureStartedAsync();
        HaproxyBalancer.Require();
        var a = await StartInstanceAsync();
        var b = await StartInstanceAsync();
        var balancer = await HaproxyBalancer.StartAsync(output, ("a", a.SmtpPort, a.MetricsPort), ("b", b.SmtpPort, b.MetricsPort));
        // HAProxy's check is HTTP/1.0 without a Host header: /healthz answers it.
        await balancer.WaitForStatusAsync("a", "UP");
        await balancer.WaitForStatusAsync("b", "UP");
        return (a, b, balancer);
    }

    private static IEnumerable<string> SessionLines(params Instance[] instances) =>
        instances.SelectMany(i => i.Proxy.OutputLines).Where(l => l.Contains(" session H=", StringComparison.Ordinal));

    [SkippableFact]
    public async Task Postfix_logs_the_client_that_connected_to_haproxy_and_early_pipelining_works_through_it()
    {
        var (a, b, balancer) = await StartAllAsync();
        await using var _a = a;
        await using var _b = b;
        await using var _balancer = balancer;
        var mark = postfix.Log.Mark();
        var id = Ids.New("lb-early");

        // Exim from 127.0.0.2: the first connection learns the EHLO reply, the second uses it before the banner.
        var options = new EximSendOptions { ToPort = balancer.Port, Interface = "127.0.0.2", ResetCache = true, ClientName = "lb-client" };
        var first = await EximClient.SendAsync(options, Messages.Simple(id + "-1"), PostfixFixture.Address(id + "-1"));
        output.WriteLine(first.ToString());
        var second = await EximClient.SendAsync(options with { ResetCache = false }, Messages.Simple(id + "-2"), PostfixFixture.Address(id + "-2"));
        output.WriteLine(second.ToString());
        Assert.True(first.Delivered, "first message not delivered:\n" + first);
        Assert.True(second.Delivered, "second message not delivered:\n" + second);
        Assert.True(second.EarlyPipelined, "the second connection through HAProxy should be early-pipelined (L*):\n" + second);

        // A lockstep client from 127.0.0.3.
        await using (var c = await RawSmtpClient.ConnectAsync("127.0.0.1", balancer.Port, "127.0.0.3"))
        {
            await c.ExpectAsync(220);
            await c.CommandAsync("EHLO lockstep.test", 250);
            await c.CommandAsync("MAIL FROM:<sender@client.test>", 250);
            await c.CommandAsync($"RCPT TO:<{PostfixFixture.Address(id + "-3")}>", 250);
            await c.CommandAsync("DATA", 354);
            await c.CommandAsync(Messages.Simple(id + "-3").Replace("\n", "\r\n", StringComparison.Ordinal) + ".", 250);
            await c.CommandAsync("QUIT", 221);
        }

        // A header straight to an instance from 127.0.0.4, which is no balancer: closed without a word, and nothing of
        // it reaches Postfix as SMTP.
        await using (var stranger = await RawSmtpClient.ConnectAsync("127.0.0.1", a.SmtpPort, "127.0.0.4"))
        {
            await stranger.SendAsync("PROXY TCP4 192.0.2.66 127.0.0.1 40000 25\r\nEHLO spoofed.test\r\n");
            var replies = await stranger.ReadRepliesUntilCloseAsync(TimeSpan.FromSeconds(10));
            Assert.True(replies.Count == 0, "a header from an address not listed should get no reply: " + string.Join(" | ", replies));
            Assert.True(stranger.Closed, "the connection of a header from an address not listed should be closed");
        }

        foreach (var (n, client) in new[] { ("-1", "127.0.0.2"), ("-2", "127.0.0.2"), ("-3", "127.0.0.3") })
        {
            var stored = await postfix.Maildir.WaitForMessageAsync("X-Marker: " + id + n);
            var received = Maildir.FirstHeader(stored, "Received") ?? "(no Received header)";
            output.WriteLine($"{id}{n}: {received}");
            Assert.Contains($"[{client}]", received, StringComparison.Ordinal);
            Assert.DoesNotContain("[127.0.0.1]", received, StringComparison.Ordinal);
        }

        await postfix.WaitForSessionsToEndAsync(mark, minSessions: 3);
        var clients = postfix.Log.LinesSince(mark).Where(l => l.Contains(": client=", StringComparison.Ordinal)).ToList();
        output.WriteLine("Postfix:\n" + string.Join('\n', clients));
        Assert.Equal(2, clients.Count(l => l.Contains("client=unknown[127.0.0.2]", StringComparison.Ordinal)));
        Assert.Single(clients, l => l.Contains("client=unknown[127.0.0.3]", StringComparison.Ordinal));
        Assert.DoesNotContain(clients, l => l.Contains("[127.0.0.1]", StringComparison.Ordinal));
        Assert.DoesNotContain(postfix.Log.LinesSince(mark), l => l.Contains("192.0.2.66", StringComparison.Ordinal) || l.Contains("spoofed.test", StringComparison.Ordinal));
        // The proxy's output is read as it comes: the refusal may be logged just after the connection closed.
        await a.Proxy.WaitForOutputAsync(l => l.Contains("PROXY header refused H=[127.0.0.4]:", StringComparison.Ordinal), "the refusal of 127.0.0.4's header");

        // The proxies' own session lines name the clients too, and the early one says L*.
        var lines = SessionLines(a, b).ToList();
        output.WriteLine("proxies:\n" + string.Join('\n', lines));
        Assert.Contains(lines, l => l.Contains("H=[127.0.0.2]", StringComparison.Ordinal) && (l.Contains(" L* ", StringComparison.Ordinal) || l.Contains(" L. ", StringComparison.Ordinal)));
        Assert.Contains(lines, l => l.Contains("H=[127.0.0.3]", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, l => l.Contains("H=[127.0.0.1]", StringComparison.Ordinal));

        // Each connection through HAProxy counted as a header that named its client.
        var proxied = 0.0;
        foreach (var instance in new[] { a, b })
        {
            using var http = new HttpClient();
            var metrics = await http.GetStringAsync($"http://127.0.0.1:{instance.MetricsPort}/metrics");
            proxied += metrics.Split('\n')
                .Where(l => l.StartsWith("earlypipe_proxy_headers_total{", StringComparison.Ordinal) && l.Contains("result=\"proxied\"", StringComparison.Ordinal))
                .Sum(l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture));
        }

        Assert.Equal(3, proxied);
    }

    [SkippableFact]
    public async Task One_instance_stopped_mid_run_loses_and_duplicates_nothing()
    {
        var (a, b, balancer) = await StartAllAsync();
        await using var _a = a;
        await using var _b = b;
        await using var _balancer = balancer;
        var run = Ids.New("lb-stop");
        const int Total = 60;
        var pending = new ConcurrentQueue<int>(Enumerable.Range(1, Total));
        var acknowledged = new ConcurrentDictionary<int, int>();
        var tries = new ConcurrentBag<string>();
        var stopAfter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        // Before the stop, a session held open on A in a transaction keeps A draining while the senders go on.
        var holder = await RawSmtpClient.ConnectAsync("127.0.0.1", a.SmtpPort, "127.0.0.4");
        await using var _holder = holder;
        await holder.ExpectAsync(220);
        await holder.CommandAsync("EHLO holder.test", 250);
        await holder.CommandAsync("MAIL FROM:<holder@client.test>", 250);
        await holder.CommandAsync($"RCPT TO:<{PostfixFixture.Address(run + "-held")}>", 250);

        async Task SendLoopAsync(string source)
        {
            while (pending.TryDequeue(out var n))
            {
                var (acked, note) = await SendOneConnectionAsync(balancer.Port, source, run, n, pending);
                tries.Add($"{source} #{n}: {note}");
                foreach (var m in acked)
                {
                    acknowledged.AddOrUpdate(m, 1, (_, count) => count + 1);
                }

                if (acknowledged.Count >= Total / 4)
                {
                    stopAfter.TrySetResult();
                }
            }
        }

        var senders = new[] { SendLoopAsync("127.0.0.2"), SendLoopAsync("127.0.0.3") };
        await stopAfter.Task.WaitAsync(TimeSpan.FromSeconds(60));

        // SIGTERM to A, its graceful stop: HAProxy must see it down while it still drains.
        await a.Proxy.SignalAsync("TERM");
        await balancer.WaitForStatusAsync("a", "DOWN", TimeSpan.FromSeconds(5));
        Assert.False(a.Proxy.HasExited, "A was to be still draining (a session in a transaction is open on it)");
        Assert.NotEqual(200, await HealthzStatusAsync(a.MetricsPort));

        // The held transaction still ends with the backend's verdict (before the stop's cut-off), then 421, and A exits.
        await holder.CommandAsync("DATA", 354);
        await holder.CommandAsync(Messages.Simple(run + "-held").Replace("\n", "\r\n", StringComparison.Ordinal) + ".", 250);
        Assert.Contains(await holder.ReadRepliesUntilCloseAsync(TimeSpan.FromSeconds(10)), r => r.Code == 421);

        await Task.WhenAll(senders).WaitAsync(TimeSpan.FromMinutes(3));
        output.WriteLine(string.Join('\n', tries.OrderBy(t => t, StringComparer.Ordinal)));
        Assert.Equal(0, await a.Proxy.WaitForExitAsync(TimeSpan.FromSeconds(20)));

        // Every message was acknowledged once (the sender retried those that got 4xx or lost their connection before
        // their verdict) and Postfix delivered each exactly once.
        Assert.Equal(Total, acknowledged.Count);
        Assert.All(acknowledged, pair => Assert.Equal(1, pair.Value));
        await postfix.SettleAsync();
        var stored = postfix.Maildir.MessagesContaining("X-Marker: " + run + "-");
        var perMessage = stored.GroupBy(m => MarkerOf(m.Content)).ToDictionary(g => g.Key, g => g.Count());
        output.WriteLine($"delivered {stored.Count} files for {perMessage.Count} markers");
        for (var n = 1; n <= Total; n++)
        {
            Assert.True(perMessage.TryGetValue($"{run}-{n}", out var copies) && copies == 1, $"{run}-{n} delivered {copies} times");
        }

        Assert.Equal(Total + 1, stored.Count);

        // Both instances served before the stop; the stop itself is in A's log.
        var lines = SessionLines(a, b).ToList();
        Assert.Contains(a.Proxy.OutputLines, l => l.Contains("stopping:", StringComparison.Ordinal));
        Assert.Contains(b.Proxy.OutputLines, l => l.Contains(" session H=[127.0.0.", StringComparison.Ordinal));
        Assert.Contains(a.Proxy.OutputLines, l => l.Contains(" session H=[127.0.0.", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, l => l.Contains("H=[127.0.0.1]", StringComparison.Ordinal));
    }

    /// <summary>
    /// One connection through the balancer carrying up to three messages in lockstep. A message counts as acknowledged
    /// only on its 250; one that got anything else, or whose connection broke first, goes back to
    /// <paramref name="pending"/> to be sent again, as an MTA would retry it.
    /// </summary>
    private static async Task<(List<int> Acked, string Note)> SendOneConnectionAsync(int port, string source, string run, int first,
        ConcurrentQueue<int> pending)
    {
        var batch = new List<int> { first };
        for (var i = 0; i < 2 && pending.TryDequeue(out var more); i++)
        {
            batch.Add(more);
        }

        var acked = new List<int>();
        var note = "ok";
        try
        {
            await using var c = await RawSmtpClient.ConnectAsync("127.0.0.1", port, source);
            await ExpectAsync(c, 220);
            await c.SendAsync("EHLO sender.test\r\n");
            await ExpectAsync(c, 250);
            foreach (var n in batch)
            {
                await c.SendAsync("MAIL FROM:<sender@client.test>\r\n");
                await ExpectAsync(c, 250);
                await c.SendAsync($"RCPT TO:<{PostfixFixture.Address($"{run}-{n}")}>\r\n");
                await ExpectAsync(c, 250);
                await c.SendAsync("DATA\r\n");
                await ExpectAsync(c, 354);
                await c.SendAsync(Messages.Simple($"{run}-{n}").Replace("\n", "\r\n", StringComparison.Ordinal) + ".\r\n");
                await ExpectAsync(c, 250);
                acked.Add(n);
            }

            await c.SendAsync("QUIT\r\n");
            await c.ReadRepliesUntilCloseAsync(TimeSpan.FromSeconds(5));
        }
        catch (Exception ex) when (ex is InvalidOperationException or IOException or SocketException or TimeoutException)
        {
            note = ex.Message.Split('\n')[0];
        }

        foreach (var n in batch.Except(acked))
        {
            pending.Enqueue(n);
        }

        return (acked, $"acked [{string.Join(',', acked)}] of [{string.Join(',', batch)}]: {note}");
    }

    private static async Task ExpectAsync(RawSmtpClient client, int code)
    {
        var reply = await client.ReadReplyAsync(TimeSpan.FromSeconds(20));
        if (reply is null || reply.Code != code)
        {
            throw new InvalidOperationException($"expected {code}, got {(reply is null ? "connection closed" : reply.Text)}");
        }
    }

    private static string MarkerOf(byte[] message)
    {
        var header = Maildir.FirstHeader(message, "X-Marker") ?? string.Empty;
        return header["X-Marker:".Length..].Trim();
    }

    /// <summary>The status of GET /healthz as HAProxy's check sends it (HTTP/1.0, no Host header); 0 when the port refuses.</summary>
    private static async Task<int> HealthzStatusAsync(int port)
    {
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync("127.0.0.1", port);
            var stream = client.GetStream();
            await stream.WriteAsync("GET /healthz HTTP/1.0\r\n\r\n"u8.ToArray());
            using var reader = new StreamReader(stream, Encoding.ASCII);
            var status = await reader.ReadLineAsync() ?? string.Empty;
            return status.Split(' ') is [_, var code, ..] && int.TryParse(code, out var value) ? value : -1;
        }
        catch (SocketException)
        {
            return 0;
        }
    }
}
