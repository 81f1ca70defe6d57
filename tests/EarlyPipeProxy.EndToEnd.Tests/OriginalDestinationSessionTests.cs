using System.Globalization;
using System.Text;
using System.Text.Json;
using EarlyPipeProxy.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace EarlyPipeProxy.EndToEnd.Tests;

/// <summary>
/// A legacy sender wrapped without reconfiguring it: in a network namespace of its own, an iptables REDIRECT sends
/// the sender's connections to an Exim server (127.0.0.6) to the outbound proxy instead, which has no Upstream and
/// relays each connection to its original destination. Only the sender's user (nobody) is redirected, so the proxy's
/// own connection to 127.0.0.6 goes through. Exim's log is the proof: the sender is strictly lockstep, yet its second
/// message arrives early-pipelined (L*).
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class OriginalDestinationSessionTests(ITestOutputHelper output)
{
    private const string EximAddress = "127.0.0.6";
    private const int Nobody = 65534;

    [SkippableFact]
    public async Task A_redirected_lockstep_sender_reaches_its_original_server_through_the_proxy_early_pipelined()
    {
        Peers.Require();
        OriginalDestinationTests.Require();
        Skip.IfNot(OperatingSystem.IsLinux(), "network namespaces and iptables are Linux only");
        await using var ns = await NetworkNamespace.CreateAsync("epp-odsess");
        await using var exim = await EximServer.StartAsync("odsess", new Dictionary<string, string>
        {
            ["EXIM_NETNS"] = ns.Name,
            ["EXIM_ADDR"] = EximAddress,
            ["EXIM_PIPE_CONNECT"] = "1",
        });
        var proxyPort = Peers.FreePort();
        var rule = new[]
        {
            "iptables", "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-d", EximAddress, "--dport", exim.Port.ToString(CultureInfo.InvariantCulture),
            "-m", "owner", "--uid-owner", Nobody.ToString(CultureInfo.InvariantCulture),
            "-j", "REDIRECT", "--to-ports", proxyPort.ToString(CultureInfo.InvariantCulture),
        };
        var added = await ns.ExecAsync(rule);
        Assert.True(added.ExitCode == 0, "iptables: " + added);

        var dir = Directory.CreateTempSubdirectory("earlypipe-odsess-").FullName;
        var config = Path.Combine(dir, "earlypipe.json");
        await File.WriteAllTextAsync(config, JsonSerializer.Serialize(new
        {
            EhloCache = new { DatabasePath = Path.Combine(dir, "ehlo-cache.db") },
            Outbound = new[]
            {
                new { Name = "wrapped", Listen = $"127.0.0.1:{proxyPort}", UseOriginalDestination = true, Tls = new { Mode = "None" } },
            },
        }));
        var dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet";
        using var proxy = ns.Start([dotnet, Path.Combine(AppContext.BaseDirectory, "earlypipe.dll"), "run", "--config", config]);
        var proxyOutput = new StringBuilder();
        var reading = Task.WhenAll(Pump(proxy.StandardOutput, proxyOutput), Pump(proxy.StandardError, proxyOutput));
        try
        {
            await Poll.UntilAsync(() => Listening(ns, proxyPort), "the proxy to listen in the namespace", TimeSpan.FromSeconds(30));

            // The sender knows nothing of the proxy: it connects to Exim's own address, as user nobody, from a copy of
            // the script nobody can read (the checkout may sit under root's home).
            var sender = Path.Combine(dir, "lockstep-send.py");
            File.Copy(Path.Combine(RepositoryRoot.Find(), "tests", "peers", "lockstep-send.py"), sender);
#pragma warning disable CA1416 // Linux only: checked at the top (Skip.IfNot).
            File.SetUnixFileMode(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
                | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
            File.SetUnixFileMode(sender, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
#pragma warning restore CA1416
            var mark = exim.Log.Mark();
            var sent = await ns.ExecAsync(
            [
                "setpriv", $"--reuid={Nobody}", $"--regid={Nobody}", "--clear-groups",
                "/usr/bin/python3", sender, "--host", EximAddress, "--port", exim.Port.ToString(CultureInfo.InvariantCulture),
                "--from", "legacy@sender.test", "--to", "wrapped@exim.test", "--connections", "2", "--message-id", "odsess", "--json",
            ]);
            output.WriteLine(sent.ToString());
            Assert.True(sent.ExitCode == 0, "the lockstep sender failed:\n" + sent);

            var received = await Poll.UntilAsync(
                () => exim.Log.LinesSince(mark).Where(l => l.Contains(" <= ", StringComparison.Ordinal)).ToArray() is { Length: 2 } lines ? lines : null,
                "Exim to receive both messages");
            output.WriteLine(string.Join('\n', received));
            Assert.Contains(" L. ", received[0], StringComparison.Ordinal);
            Assert.Contains(" L* ", received[1], StringComparison.Ordinal);
            // The proxy's own account: it learnt the reply of the server the sender meant, under that server's key.
            await Poll.UntilAsync(
                () => { lock (proxyOutput) { return proxyOutput.ToString().Contains($"learnt [{EximAddress}]:{exim.Port}", StringComparison.Ordinal); } },
                "the proxy to log the learnt reply of " + EximAddress);
        }
        finally
        {
            if (!proxy.HasExited)
            {
                proxy.Kill(entireProcessTree: true);
            }

            await proxy.WaitForExitAsync();
            await reading;
            lock (proxyOutput)
            {
                output.WriteLine("--- proxy output\n" + proxyOutput);
            }

            await exim.DisposeAsync();
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>
    /// A loop: the sender meant another of the proxy's own listeners (127.0.0.7), and the REDIRECT brought it to the
    /// wrapping listener. Relaying it to its original destination would have the proxy connect to itself; it is
    /// refused at once with 554 5.4.6, and the other listener never sees a connection.
    /// </summary>
    [SkippableFact]
    public async Task A_connection_whose_original_destination_is_another_of_the_proxy_listeners_is_refused_as_a_loop()
    {
        Peers.Require();
        OriginalDestinationTests.Require();
        Skip.IfNot(OperatingSystem.IsLinux(), "network namespaces and iptables are Linux only");
        await using var ns = await NetworkNamespace.CreateAsync("epp-odloop");
        const string OtherListenerAddress = "127.0.0.7";
        var proxyPort = Peers.FreePort();
        var otherPort = Peers.FreePort();
        var rule = new[]
        {
            "iptables", "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-d", OtherListenerAddress, "--dport", otherPort.ToString(CultureInfo.InvariantCulture),
            "-m", "owner", "--uid-owner", Nobody.ToString(CultureInfo.InvariantCulture),
            "-j", "REDIRECT", "--to-ports", proxyPort.ToString(CultureInfo.InvariantCulture),
        };
        var added = await ns.ExecAsync(rule);
        Assert.True(added.ExitCode == 0, "iptables: " + added);

        var dir = Directory.CreateTempSubdirectory("earlypipe-odloop-").FullName;
        var config = Path.Combine(dir, "earlypipe.json");
        await File.WriteAllTextAsync(config, JsonSerializer.Serialize(new
        {
            Outbound = new object[]
            {
                new { Name = "wrapped", Listen = $"127.0.0.1:{proxyPort}", UseOriginalDestination = true, Tls = new { Mode = "None" } },
                new { Name = "other", Listen = $"{OtherListenerAddress}:{otherPort}", Upstream = $"{EximAddress}:25", Tls = new { Mode = "None" } },
            },
        }));
        var dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet";
        using var proxy = ns.Start([dotnet, Path.Combine(AppContext.BaseDirectory, "earlypipe.dll"), "run", "--config", config]);
        var proxyOutput = new StringBuilder();
        var reading = Task.WhenAll(Pump(proxy.StandardOutput, proxyOutput), Pump(proxy.StandardError, proxyOutput));
        try
        {
            await Poll.UntilAsync(() => Listening(ns, proxyPort), "the proxy to listen in the namespace", TimeSpan.FromSeconds(30));

            // The sender, as user nobody, connects to the other listener's address and reads what it is told first.
            var greeting = await ns.ExecAsync(
            [
                "setpriv", $"--reuid={Nobody}", $"--regid={Nobody}", "--clear-groups", "/usr/bin/python3", "-c",
                "import socket,sys; s=socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10); "
                    + "print(s.recv(512).decode('ascii', 'replace').strip())",
                OtherListenerAddress, otherPort.ToString(CultureInfo.InvariantCulture),
            ]);
            output.WriteLine(greeting.ToString());
            Assert.True(greeting.ExitCode == 0, "the sender failed:\n" + greeting);
            Assert.StartsWith("554 5.4.6 ", greeting.Stdout.Trim(), StringComparison.Ordinal);

            // The proxy says why, and nothing reached the other listener: no line of it but its start-up line and its
            // upstream's start-up probe (127.0.0.6 has no server: the probe says so, which is no session).
            await Poll.UntilAsync(
                () => { lock (proxyOutput) { return proxyOutput.ToString().Contains($"mail loop refused: the original destination of H=[127.0.0.1] I=wrapped is this proxy's own listener {OtherListenerAddress}:{otherPort}", StringComparison.Ordinal); } },
                "the proxy to log the refused loop");
            lock (proxyOutput)
            {
                var otherLines = proxyOutput.ToString().Split('\n').Where(l => l.Contains("I=other", StringComparison.Ordinal)).ToArray();
                Assert.True(otherLines.All(l => l.Contains("listening I=other", StringComparison.Ordinal) || l.Contains("start-up: I=other cannot work", StringComparison.Ordinal)),
                    string.Join('\n', otherLines));
                Assert.DoesNotContain(otherLines, l => l.Contains(" session ", StringComparison.Ordinal));
            }
        }
        finally
        {
            if (!proxy.HasExited)
            {
                proxy.Kill(entireProcessTree: true);
            }

            await proxy.WaitForExitAsync();
            await reading;
            lock (proxyOutput)
            {
                output.WriteLine("--- proxy output\n" + proxyOutput);
            }

            Directory.Delete(dir, recursive: true);
        }
    }

    private static async Task Pump(StreamReader reader, StringBuilder sink)
    {
        while (await reader.ReadLineAsync() is { } line)
        {
            lock (sink)
            {
                sink.AppendLine(line);
            }
        }
    }

    private static bool Listening(NetworkNamespace ns, int port) =>
        ns.ExecAsync(["bash", "-c", $"exec 3<>/dev/tcp/127.0.0.1/{port}"]).GetAwaiter().GetResult().ExitCode == 0;
}
