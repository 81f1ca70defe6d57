using System.Globalization;
using System.Text;
using System.Text.Json;
using EarlyPipeProxy.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace EarlyPipeProxy.EndToEnd.Tests;

/// <summary>
/// Backend:ClientIdentity Transparent, against a Postfix that trusts nobody to introduce a client (no XCLIENT hosts,
/// no PROXY protocol on its port: a stand-in for Exchange) and relays for its mynetworks, which is the proxy's own
/// address only. Client, proxy and backend each have a network namespace (<see cref="TransparentNetwork"/>); the
/// proxy namespace routes with the shipped deploy/transparent/setup.sh. The proof is Postfix's: its log and the
/// Received: header name the client's own address, it refuses the client relaying as it would refuse it directly,
/// while the same client through a listener that does not introduce it relays freely; and the early path still
/// works (Exim in the client namespace, L*). Then the same with the proxy in the path: the client connects to the
/// backend's own address, a TPROXY rule hands the connection to the proxy's Transparent listener.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class TransparentModeTests(ITestOutputHelper output)
{
    private const string RemoteRecipient = "someone@elsewhere.test";

    [SkippableTheory]
    [InlineData("IPv4")]
    [InlineData("IPv6")]
    public async Task The_backend_sees_the_clients_own_address_and_judges_the_client_by_it(string family)
    {
        Peers.Require();
        await TransparentNetwork.RequireAsync();
        var a = TransparentAddresses.Of(family);
        await using var network = await TransparentNetwork.CreateAsync();
        await network.SetUpRoutingAsync();
        await using var postfix = await BackendPostfix.StartAsync(network.Backend, output);
        await using var proxy = await ProxyProcess.StartAsync(
            output,
            [
                new ListenerSpec("transparent", 25, "Transparent") { ListenHost = a.Host(a.ProxyClientSide), BackendHost = a.Host(a.Backend) },
                new ListenerSpec("plain", 25, "None") { ListenHost = a.Host(a.ProxyClientSide), BackendHost = a.Host(a.Backend) },
            ],
            [],
            ehloCachePath: null,
            netns: network.Proxy);

        // The health probe: from the proxy's own address, with IP_TRANSPARENT set (allowed: the proxy runs as root).
        await Poll.UntilAsync(
            () => proxy.OutputLines.Any(l => l.Contains($"health: backend transparent {a.Host(a.Backend)}:25 is up: IP_TRANSPARENT allowed, banner 220, EHLO 250", StringComparison.Ordinal)),
            "the transparent listener's health probe");

        // Without an introduction the backend sees the proxy, in its mynetworks: it relays for anybody.
        var plain = await ProbeAsync(network, a, a.ProxyClientSide, proxy["plain"].ListenPort, "plain");
        Assert.True(plain.Rcpt == 250, "through the plain listener: " + plain.RcptText);

        // Transparent: the backend sees the client, outside mynetworks, and refuses it.
        var transparent = await ProbeAsync(network, a, a.ProxyClientSide, proxy["transparent"].ListenPort, "transparent");
        Assert.Equal(554, transparent.Rcpt);
        Assert.Contains($"<{RemoteRecipient}>: Relay access denied", transparent.RcptText, StringComparison.Ordinal);
        var reject = await postfix.Log.WaitForLineAsync(0,
            l => l.Contains("from=<" + transparent.Id + "@client.test>", StringComparison.Ordinal), "Postfix's reject of " + transparent.Id);
        Assert.Contains($"NOQUEUE: reject: RCPT from unknown[{a.Client}]: 554 5.7.1 ", reject, StringComparison.Ordinal);

        // The early path: Exim in the client namespace learns the proxy's PIPECONNECT, then uses it.
        var id = Ids.New("tpx");
        var options = new EximSendOptions
        {
            ClientName = "tpx-client-" + family.ToLowerInvariant(),
            ToHost = a.ProxyClientSide,
            ToPort = proxy["transparent"].ListenPort,
            Netns = network.Client.Name,
            ResetCache = true,
        };
        await SendTwiceAsync(options, id);

        var received = await ReceivedHeadersAsync(postfix, id + "-2");
        output.WriteLine("--- the delivered message's header\n" + received);
        Assert.Contains($"(unknown [{a.InReceivedHeader(a.Client)}])", received, StringComparison.Ordinal);
        Assert.DoesNotContain(a.ProxyBackendSide, received, StringComparison.Ordinal);
        await postfix.Log.WaitForLineAsync(0, l => l.Contains($": client=unknown[{a.Client}]", StringComparison.Ordinal), "Postfix's client= line for " + a.Client);
    }

    [SkippableTheory]
    [InlineData("IPv4")]
    [InlineData("IPv6")]
    public async Task A_transparent_listener_takes_the_connections_to_the_backends_own_address(string family)
    {
        Peers.Require();
        await TransparentNetwork.RequireAsync();
        var a = TransparentAddresses.Of(family);
        await using var network = await TransparentNetwork.CreateAsync();
        var listener = new ListenerSpec("intercept", 25, "Transparent")
        {
            ListenHost = a.Host(a.ProxyClientSide),
            BackendHost = a.Host(a.Backend),
            Transparent = true,
        };
        await network.SetUpRoutingAsync("--in", TransparentNetwork.ClientSideInterface,
            "--intercept", $"{a.Host(a.Backend)}:25={a.Host(a.ProxyClientSide)}:{listener.ListenPort.ToString(CultureInfo.InvariantCulture)}");
        await using var postfix = await BackendPostfix.StartAsync(network.Backend, output);
        await using var proxy = await ProxyProcess.StartAsync(output, [listener], [], ehloCachePath: null, netns: network.Proxy);

        // The client knows only the backend's address.
        var probe = await ProbeAsync(network, a, a.Backend, 25, "intercepted");
        Assert.Equal(554, probe.Rcpt);
        Assert.Contains($"<{RemoteRecipient}>: Relay access denied", probe.RcptText, StringComparison.Ordinal);

        var id = Ids.New("tpi");
        var options = new EximSendOptions
        {
            ClientName = "tpi-client-" + family.ToLowerInvariant(),
            ToHost = a.Backend,
            ToPort = 25,
            Netns = network.Client.Name,
            ResetCache = true,
        };
        var second = await SendTwiceAsync(options, id);
        // Exim believes it spoke to the backend, and early-pipelined: only the proxy offers PIPECONNECT.
        Assert.Contains($" [{a.Backend}]", second.DeliveryLines[0], StringComparison.Ordinal);

        var received = await ReceivedHeadersAsync(postfix, id + "-2");
        output.WriteLine("--- the delivered message's header\n" + received);
        Assert.Contains($"(unknown [{a.InReceivedHeader(a.Client)}])", received, StringComparison.Ordinal);
        Assert.DoesNotContain(a.ProxyBackendSide, received, StringComparison.Ordinal);
        // The proxy's own account of the sessions: the client, on the intercepting listener.
        await Poll.UntilAsync(
            () => proxy.OutputLines.Any(l => l.Contains($"H=[{a.Client}]:", StringComparison.Ordinal) && l.Contains(" I=intercept ", StringComparison.Ordinal)),
            "the proxy's session line for " + a.Client);

        // setup.sh down leaves nothing of its own behind.
        await proxy.StopAsync();
        var left = await network.TearDownRoutingAsync();
        Assert.DoesNotContain("EARLYPIPE", left, StringComparison.Ordinal);
        Assert.DoesNotContain("TPROXY", left, StringComparison.Ordinal);
        Assert.DoesNotContain("lookup 100", left, StringComparison.Ordinal);
    }

    /// <summary>
    /// The kernel allows IP_TRANSPARENT only with CAP_NET_ADMIN (or, on recent kernels, CAP_NET_RAW): a proxy started
    /// without them (root with both taken out of its bounding set) does not open a Transparent listener, and says
    /// why in one line.
    /// </summary>
    [SkippableFact]
    public async Task Without_CAP_NET_ADMIN_a_transparent_listener_does_not_start_and_says_why()
    {
        RequireSetpriv();
        var port = Peers.FreePort();
        var (exit, lines) = await RunWithoutNetAdminAsync(
            new { Name = "mx", Listen = $"127.0.0.1:{port}", Transparent = true, Backend = new { Address = "127.0.0.1:25", ClientIdentity = "None" } }, null, []);

        Assert.Equal(1, exit);
        Assert.Contains(lines, l => l.StartsWith("earlypipe: Inbound listener 'mx' Transparent: ", StringComparison.Ordinal)
            && l.EndsWith("(IP_TRANSPARENT needs CAP_NET_ADMIN (systemd: AmbientCapabilities and CapabilityBoundingSet))", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, l => l.Contains("   at ", StringComparison.Ordinal));
    }

    /// <summary>
    /// Backend:ClientIdentity Transparent without the capability: each client gets 421 at once, and the proxy's log
    /// names the remedy; nothing is ever sent from the proxy's own address instead.
    /// </summary>
    [SkippableFact]
    public async Task Without_CAP_NET_ADMIN_a_transparent_backend_connection_fails_with_421_and_the_reason()
    {
        RequireSetpriv();
        var port = Peers.FreePort();
        using var backend = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        backend.Start();
        var backendPort = ((System.Net.IPEndPoint)backend.LocalEndpoint).Port;
        var backendAddress = $"127.0.0.1:{backendPort.ToString(CultureInfo.InvariantCulture)}";
        var refusal = $"cannot connect to {backendAddress} from the client's address: ";
        var probeRefusal = $"fails the probe: cannot connect to {backendAddress} with IP_TRANSPARENT: ";
        var (_, lines) = await RunWithoutNetAdminAsync(
            new { Name = "mx", Listen = $"127.0.0.1:{port}", Backend = new { Address = $"127.0.0.1:{backendPort}", ClientIdentity = "Transparent" } },
            async () =>
            {
                using var client = new System.Net.Sockets.TcpClient();
                await client.ConnectAsync(System.Net.IPAddress.Loopback, port);
                using var reader = new StreamReader(client.GetStream(), Encoding.ASCII);
                var greeting = await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30));
                Assert.StartsWith("421 4.4.2 ", greeting, StringComparison.Ordinal);
            },
            [" I=mx: " + refusal, probeRefusal]);

        // The session's line and the health probe's (which sets the option too, from the proxy's own address).
        Assert.Contains(lines, l => l.Contains(" I=mx: " + refusal, StringComparison.Ordinal) && l.Contains("CAP_NET_ADMIN", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains(probeRefusal, StringComparison.Ordinal) && l.Contains("CAP_NET_ADMIN", StringComparison.Ordinal));
        // The backend never saw a connection: no fallback to the proxy's own address.
        Assert.False(backend.Pending(), "the backend got a connection");
    }

    private static void RequireSetpriv()
    {
        var reason = !OperatingSystem.IsLinux() ? "IP_TRANSPARENT is Linux only"
            : !Environment.IsPrivilegedProcess ? "taking capabilities away needs root to start with; run `sudo dotnet test` or set CI=true on a root runner"
            : !File.Exists("/usr/bin/setpriv") ? "setpriv (util-linux) is not installed"
            : null;
        if (reason is not null)
        {
            Assert.False(Peers.IsCi, "CI=true, so the capability tests must run, but: " + reason);
            Skip.If(true, reason);
        }
    }

    /// <summary>
    /// The proxy with <paramref name="listener"/> as its one inbound listener, as root without CAP_NET_ADMIN and
    /// CAP_NET_RAW; <paramref name="whileRunning"/> once it listens (null: it is expected to exit by itself), then until it
    /// has written a line containing each of <paramref name="awaited"/>. Returns its exit code and every line it wrote.
    /// </summary>
    private async Task<(int Exit, IReadOnlyList<string> Lines)> RunWithoutNetAdminAsync(object listener, Func<Task>? whileRunning, string[] awaited)
    {
        var dir = Directory.CreateTempSubdirectory("earlypipe-tpcap-").FullName;
        try
        {
            var config = Path.Combine(dir, "earlypipe.json");
            await File.WriteAllTextAsync(config, JsonSerializer.Serialize(new { Inbound = new[] { listener } }));
            var psi = new System.Diagnostics.ProcessStartInfo("/usr/bin/setpriv") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var arg in (string[])["--bounding-set=-net_admin,-net_raw", Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet",
                Path.Combine(AppContext.BaseDirectory, "earlypipe.dll"), "run", "--config", config])
            {
                psi.ArgumentList.Add(arg);
            }

            foreach (var inherited in psi.Environment.Keys.Where(k => k.StartsWith("EARLYPIPE__", StringComparison.Ordinal)).ToList())
            {
                psi.Environment.Remove(inherited);
            }

            using var process = System.Diagnostics.Process.Start(psi)!;
            var lines = new System.Collections.Concurrent.ConcurrentQueue<string>();
            process.OutputDataReceived += (_, e) => { if (e.Data is not null) { lines.Enqueue(e.Data); } };
            process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lines.Enqueue(e.Data); } };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            try
            {
                if (whileRunning is not null)
                {
                    await Poll.UntilAsync(() => process.HasExited || lines.Any(l => l.Contains("listening I=mx", StringComparison.Ordinal)), "the proxy to listen");
                    Assert.False(process.HasExited, "the proxy exited:\n" + string.Join('\n', lines));
                    await whileRunning();
                    foreach (var text in awaited)
                    {
                        await Poll.UntilAsync(() => lines.Any(l => l.Contains(text, StringComparison.Ordinal)), "the proxy to log: " + text);
                    }

                    process.Kill(entireProcessTree: true);
                }

                await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
            }
            finally
            {
                if (!process.HasExited)
                {
                    process.Kill(entireProcessTree: true);
                    await process.WaitForExitAsync();
                }

                output.WriteLine("--- proxy output\n" + string.Join('\n', lines));
            }

            return (process.ExitCode, lines.ToArray());
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>Two messages, one connection each; the second must be early-pipelined (L*). Returns the second's result.</summary>
    private async Task<EximSendResult> SendTwiceAsync(EximSendOptions options, string id)
    {
        var first = await EximClient.SendAsync(options, Messages.Simple(id + "-1"), PostfixFixture.Address(id + "-1"));
        output.WriteLine(first.ToString());
        Assert.True(first.Delivered, "first message:\n" + first);
        var second = await EximClient.SendAsync(options with { ResetCache = false }, Messages.Simple(id + "-2"), PostfixFixture.Address(id + "-2"));
        output.WriteLine(second.ToString());
        Assert.True(second.Delivered, "second message:\n" + second);
        Assert.True(second.EarlyPipelined, "the second connection should be early-pipelined ('L*'):\n" + second);
        return second;
    }

    /// <summary>The header section of the delivered message with <paramref name="marker"/>.</summary>
    private static async Task<string> ReceivedHeadersAsync(BackendPostfix postfix, string marker)
    {
        var message = await Poll.UntilAsync(
            () => postfix.Maildir.MessagesContaining(marker) is [var one] ? Encoding.ASCII.GetString(one.Content) : null,
            "Postfix to deliver " + marker);
        var end = message.IndexOf("\n\n", StringComparison.Ordinal);
        return end < 0 ? message : message[..end];
    }

    private async Task<ProbeResult> ProbeAsync(TransparentNetwork network, TransparentAddresses a, string host, int port, string how)
    {
        var id = $"{how}-{Guid.NewGuid():N}"[..24];
        var result = await network.Client.ExecAsync(
            ["/usr/bin/python3", Path.Combine(Peers.ScriptsDir!, "smtp-probe.py"), "--source", a.Client, "--host", host, "--port", port.ToString(CultureInfo.InvariantCulture),
                "--helo", "probe.client.test", "--mail-from", id + "@client.test", "--rcpt", RemoteRecipient],
            TimeSpan.FromSeconds(60));
        output.WriteLine($"{how} {a.Client} -> {host}:{port}: {result.Stdout.Trim()} {result.Stderr.Trim()}");
        Assert.True(result.ExitCode == 0, result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        var rcpt = json.RootElement.TryGetProperty("rcpt", out var r) ? r : default;
        return new ProbeResult(
            id,
            rcpt.ValueKind == JsonValueKind.Object ? rcpt.GetProperty("code").GetInt32() : 0,
            rcpt.ValueKind == JsonValueKind.Object ? rcpt.GetProperty("text").GetString() ?? "" : "");
    }

    private sealed record ProbeResult(string Id, int Rcpt, string RcptText);

    /// <summary>
    /// Postfix in the backend namespace on port 25 of both its addresses, relaying (into a discard transport) only for
    /// the proxy's own addresses (mynetworks) and taking introductions from nobody (smtpd_authorized_xclient_hosts
    /// empty; postfix.sh's extra PROXY-protocol port is never used). One instance per test, removed afterwards.
    /// </summary>
    private sealed class BackendPostfix : IAsyncDisposable
    {
        private readonly Dictionary<string, string> _env;
        private readonly ITestOutputHelper _output;
        private readonly string _dir;

        private BackendPostfix(NetworkNamespace ns, ITestOutputHelper output)
        {
            _output = output;
            var v4 = TransparentAddresses.V4;
            var v6 = TransparentAddresses.V6;
            var instance = $"tpx{Environment.ProcessId.ToString(CultureInfo.InvariantCulture)}-{Guid.NewGuid():N}"[..20];
            _dir = Path.Combine(Peers.StateDir, "postfix-" + instance);
            Log = new LogFile(Path.Combine(_dir, "maillog"));
            Maildir = new Maildir(Path.Combine(_dir, "mail"));
            _env = new Dictionary<string, string>
            {
                ["PF_NAME"] = instance,
                ["PF_NETNS"] = ns.Name,
                ["PF_ADDR"] = v4.Backend,
                ["PF_PORT"] = "25",
                ["PF_PROXY_PORT"] = "2526",
                ["PF_TLS"] = "0",
                ["PF_MYNETWORKS"] = $"{v4.ProxyBackendSide}/32 [{v6.ProxyBackendSide}]/128",
                ["PF_XCLIENT_HOSTS"] = "",
                ["PF_INET_PROTOCOLS"] = "all",
                ["PF_INET_INTERFACES"] = "all",
                // What it relays it accepts (and drops): a relay the restrictions allow is a 250, not the error
                // transport's refusal at RCPT.
                ["PF_RELAY_TRANSPORT"] = "discard:relayed by the transparent-mode test",
                ["PF_MASTER_EXTRA"] = $"[{v6.Backend}]:25 inet n - n - - smtpd",
            };
        }

        public LogFile Log { get; }

        public Maildir Maildir { get; }

        public static async Task<BackendPostfix> StartAsync(NetworkNamespace ns, ITestOutputHelper output)
        {
            var postfix = new BackendPostfix(ns, output);
            try
            {
                await PeerScripts.RunCheckedAsync("postfix.sh", ["start"], postfix._env);
            }
            catch
            {
                await postfix.DisposeAsync();
                throw;
            }

            return postfix;
        }

        public async ValueTask DisposeAsync()
        {
            var stopped = await PeerScripts.RunAsync("postfix.sh", ["stop"], _env);
            _output.WriteLine("postfix: " + stopped.Stdout.Trim() + stopped.Stderr.Trim());
            _output.WriteLine("--- maillog\n" + (File.Exists(Log.Path) ? await File.ReadAllTextAsync(Log.Path) : "(none)"));
            if (stopped.ExitCode == 0 && Directory.Exists(_dir))
            {
                Directory.Delete(_dir, recursive: true);
            }
        }
    }
}
