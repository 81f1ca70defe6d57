using System.Diagnostics;
using System.Globalization;
using EarlyPipeProxy.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace EarlyPipeProxy.EndToEnd.Tests;

/// <summary>
/// The backend examples of config/ work as written: their lines are read from the files themselves and applied to a real
/// Postfix 3.7 and a real Exim 4.96. Postfix: `postconf -n` and `-M` take them without a warning and no value carries a
/// comment; the proxy's XCLIENT is authorised (a message through it is logged with the real client's address), the
/// master.cf PROXY v2 service does the same, and the proxy's own address is no relay (directly from 127.0.0.1, and
/// through the proxy from an outsider). The instance starts with the unsafe settings the example must override
/// (mynetworks 127.0.0.0/8, XCLIENT authorised for another host), so only the example's lines make these pass. Exim:
/// hosts_proxy with the proxy in ProxyV2 mode logs the real client, and a connection from the proxy's address without the
/// header gets nothing done.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class BackendExampleTests(ITestOutputHelper output)
{
    private static string PostfixExample => Path.Combine(RepositoryRoot.Find(), "config", "postfix-backend.example");

    private static string EximExample => Path.Combine(RepositoryRoot.Find(), "config", "exim-backend.example");

    /// <summary>Every line of a Postfix or Exim example that is not a comment or blank: the main.cf / main-section lines.</summary>
    private static List<string> ActiveLines(string path) =>
        [.. File.ReadAllLines(path).Where(l => l.Trim().Length > 0 && !l.TrimStart().StartsWith('#'))];

    /// <summary>The commented master.cf block between "# >>> master.cf" and "# &lt;&lt;&lt; master.cf", uncommented.</summary>
    private static List<string> MasterCfLines()
    {
        var lines = File.ReadAllLines(PostfixExample);
        var start = Array.FindIndex(lines, l => l.Trim() == "# >>> master.cf");
        var end = Array.FindIndex(lines, l => l.Trim() == "# <<< master.cf");
        Assert.True(start >= 0 && end > start, "the master.cf block markers are missing from " + PostfixExample);
        return [.. lines[(start + 1)..end].Select(l => l.StartsWith("# ", StringComparison.Ordinal) ? l[2..] : l.TrimStart('#'))];
    }

    [SkippableFact]
    public async Task Postfix_example_parses_without_a_warning_and_no_value_carries_a_comment()
    {
        Peers.Require();
        var dir = Directory.CreateTempSubdirectory("earlypipe-pfexample-").FullName;
        try
        {
            var main = ActiveLines(PostfixExample);
            Assert.Contains(main, l => l.StartsWith("smtpd_authorized_xclient_hosts", StringComparison.Ordinal));
            Assert.Contains(main, l => l.StartsWith("mynetworks", StringComparison.Ordinal));
            await File.WriteAllLinesAsync(Path.Combine(dir, "main.cf"), main);
            await File.WriteAllLinesAsync(Path.Combine(dir, "master.cf"), MasterCfLines());

            var (code, stdout, stderr) = await RunAsync("postconf", "-c", dir, "-n");
            Assert.True(code == 0 && stderr.Trim().Length == 0, $"postconf -n: exit {code}\n{stderr}");
            foreach (var line in stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                Assert.DoesNotContain("#", line, StringComparison.Ordinal); // Postfix would read a trailing comment as part of the value
            }

            var networks = (await RunAsync("postconf", "-c", dir, "-h", "mynetworks")).Stdout.Trim();
            Assert.DoesNotContain("127.", networks, StringComparison.Ordinal);
            Assert.Equal("127.0.0.1", (await RunAsync("postconf", "-c", dir, "-h", "smtpd_authorized_xclient_hosts")).Stdout.Trim());

            var master = await RunAsync("postconf", "-c", dir, "-M");
            Assert.True(master.Code == 0 && master.Stderr.Trim().Length == 0, $"postconf -M: exit {master.Code}\n{master.Stderr}");
            var services = await RunAsync("postconf", "-c", dir, "-P");
            Assert.Contains("/inet/smtpd_upstream_proxy_protocol = haproxy", services.Stdout, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [SkippableFact]
    public async Task Postfix_with_the_example_trusts_the_proxys_XCLIENT_and_PROXY_header_and_relays_for_neither_the_proxy_nor_outsiders()
    {
        Peers.Require();
        var name = "example" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
        var port = Peers.FreePort();
        var proxyPort = Peers.FreePort();
        var examplePort = Peers.FreePort();
        var env = new Dictionary<string, string>
        {
            ["PF_NAME"] = name,
            ["PF_PORT"] = port.ToString(CultureInfo.InvariantCulture),
            ["PF_PROXY_PORT"] = proxyPort.ToString(CultureInfo.InvariantCulture),
            ["PF_TLS"] = "0",
            // unsafe on purpose, what the example must override: the proxy's address relays, XCLIENT is someone else's
            ["PF_MYNETWORKS"] = "127.0.0.0/8",
            ["PF_XCLIENT_HOSTS"] = "192.0.2.1",
            ["PF_MAIN_EXTRA"] = string.Join('\n', ActiveLines(PostfixExample)),
            ["PF_MASTER_EXTRA"] = string.Join('\n', MasterCfLines()).Replace("127.0.0.1:10025", "127.0.0.1:" + examplePort.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal),
        };
        Assert.Contains("127.0.0.1:" + examplePort.ToString(CultureInfo.InvariantCulture), env["PF_MASTER_EXTRA"], StringComparison.Ordinal);
        var dir = Path.Combine(Peers.StateDir, "postfix-" + name);
        var log = new LogFile(Path.Combine(dir, "maillog"));
        var maildir = new Maildir(Path.Combine(dir, "mail"));
        await PeerScripts.RunCheckedAsync("postfix.sh", ["stop"], env);
        await PeerScripts.RunCheckedAsync("postfix.sh", ["start"], env);
        try
        {
            await using var proxy = await ProxyProcess.StartAsync(output,
                new ListenerSpec("xclient", port, "Xclient"),
                new ListenerSpec("proxyv2", examplePort, "ProxyV2"));

            // XCLIENT: authorised only by the example's smtpd_authorized_xclient_hosts
            foreach (var listener in new[] { "xclient", "proxyv2" })
            {
                var id = Ids.New("pfexample-" + listener);
                var mark = log.Mark();
                var sent = await EximClient.SendAsync(
                    new EximSendOptions { ToPort = proxy[listener].ListenPort, Interface = "127.0.0.2", ResetCache = true },
                    Messages.Simple(id), $"{id}@{PostfixFixture.Domain}");
                output.WriteLine(sent.ToString());
                Assert.True(sent.Delivered, listener + ": not delivered\n" + sent);
                await maildir.WaitForMessageAsync("X-Marker: " + id);
                var line = await log.WaitForLineAsync(mark, l => l.Contains(": client=", StringComparison.Ordinal), "the message's client= line");
                Assert.Contains("[127.0.0.2]", line, StringComparison.Ordinal);
                Assert.DoesNotContain("XCLIENT command rejected", log.ReadSince(mark), StringComparison.Ordinal);
            }

            // The proxy's own address, directly: not a relay client (the instance started with 127.0.0.0/8 in mynetworks)
            var direct = await TryRelayAsync(port, "127.0.0.1", Ids.New("pfexample-direct"));
            Assert.True(direct.Code is 454 or 554 && direct.Text.Contains("Relay access denied", StringComparison.Ordinal), "directly from 127.0.0.1: " + direct);

            // Through the proxy from an outsider: refused as that outsider
            var mark2 = log.Mark();
            var outsider = await TryRelayAsync(proxy["xclient"].ListenPort, "127.0.0.3", Ids.New("pfexample-outsider"));
            Assert.True(outsider.Code is 454 or 554 && outsider.Text.Contains("Relay access denied", StringComparison.Ordinal), "through the proxy from 127.0.0.3: " + outsider);
            await log.WaitForLineAsync(mark2, l => l.Contains("[127.0.0.3]", StringComparison.Ordinal) && l.Contains("Relay access denied", StringComparison.Ordinal), "Postfix's refusal naming 127.0.0.3");
        }
        finally
        {
            await PeerScripts.RunAsync("postfix.sh", ["stop"], env);
        }
    }

    [SkippableFact]
    public async Task Exim_with_the_example_logs_the_real_client_and_serves_nothing_to_the_proxys_address_without_a_header()
    {
        Peers.Require();
        Assert.Contains("\"ClientIdentity\": \"ProxyV2\"", await File.ReadAllTextAsync(EximExample), StringComparison.Ordinal);
        var lines = ActiveLines(EximExample);
        Assert.Contains(lines, l => l.StartsWith("hosts_proxy", StringComparison.Ordinal));
        await using var exim = await EximServer.StartAsync("example", new Dictionary<string, string>
        {
            ["EXIM_MAIN_EXTRA"] = string.Join('\n', lines),
        });
        await using var proxy = await ProxyProcess.StartAsync(output, new ListenerSpec("smtp", exim.Port, "ProxyV2"));

        var id = Ids.New("eximexample");
        var mark = exim.Log.Mark();
        var sent = await EximClient.SendAsync(
            new EximSendOptions { ToPort = proxy["smtp"].ListenPort, Interface = "127.0.0.2", ResetCache = true },
            Messages.Simple(id), $"{id}@exim.test");
        output.WriteLine(sent.ToString());
        Assert.True(sent.Delivered, sent.ToString());
        var received = await exim.Log.WaitForLineAsync(mark, l => l.Contains(" <= ", StringComparison.Ordinal), "Exim's <= line");
        output.WriteLine(received);
        Assert.Matches(@"H=\S*\s?\[127\.0\.0\.2\]", received);
        Assert.Contains(" PRX=127.0.0.1 ", received, StringComparison.Ordinal);

        // From the proxy's address without the header: the banner, then nothing but QUIT.
        await using var c = await RawSmtpClient.ConnectAsync("127.0.0.1", exim.Port, "127.0.0.1");
        try
        {
            await c.SendAsync("EHLO direct.test\r\n"); // read by Exim as the header it waits for, and refused
            var banner = await c.ReadReplyAsync();
            Assert.Equal(220, banner?.Code);
            await c.SendAsync("EHLO direct.test\r\n");
            var ehlo = await c.ReadReplyAsync();
            Assert.Equal(503, ehlo?.Code);
            Assert.Contains("Proxy negotiation failed", ehlo!.Text, StringComparison.Ordinal);
            await c.SendAsync("MAIL FROM:<a@direct.test>\r\n");
            Assert.Equal(503, (await c.ReadReplyAsync())?.Code);
        }
        finally
        {
            output.WriteLine(c.Transcript);
        }
    }

    private Task<SmtpReply> TryRelayAsync(int port, string from, string id) => RawSmtpClient.TryRelayAsync(port, from, id, output);

    private async Task<(int Code, string Stdout, string Stderr)> RunAsync(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file, args)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var process = Process.Start(psi) ?? throw new InvalidOperationException("cannot start " + file);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        var result = (process.ExitCode, await stdout, await stderr);
        output.WriteLine($"$ {file} {string.Join(' ', args)}: exit {result.ExitCode}\n{result.Item2}{result.Item3}");
        return result;
    }
}
