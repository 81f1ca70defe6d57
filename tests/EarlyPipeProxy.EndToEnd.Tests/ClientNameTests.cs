using System.Text.Json;
using EarlyPipeProxy.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace EarlyPipeProxy.EndToEnd.Tests;

/// <summary>
/// Postfix's client-name restrictions judge a client behind the proxy as they judge it connecting directly:
/// reject_unknown_reverse_client_hostname (REVERSE_NAME=) and reject_unknown_client_hostname (NAME=), for a client
/// with a verified name (/etc/hosts), one whose PTR name does not resolve back, one without a PTR record, one whose
/// resolver never answers, and one with a name near Postfix's 255-character limit (two XCLIENT commands).
/// Everything runs in a throwaway network namespace with its own /etc/netns hosts and resolv.conf, a scripted DNS
/// server on its loopback, a Postfix and the proxy; the machine's own files are never touched. A policy service
/// makes Postfix log the names, server address and port it used (a WARN action).
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class ClientNameTests(ITestOutputHelper output)
{
    private const string PostfixAddress = "127.0.0.1";
    private const int ReverseNamePort = 2525; // reject_unknown_reverse_client_hostname
    private const int NamePort = 2527; // reject_unknown_client_hostname
    private const string ProxyAddress = "127.0.0.5";

    // The resolver's own timeout (resolv.conf) is longer than the proxy's, so the proxy's must be the one that holds.
    private const int ResolverTimeoutSeconds = 3;
    private static readonly TimeSpan ProxyLookupTimeout = TimeSpan.FromSeconds(1);

    private static readonly string LongName = string.Join('.', Enumerable.Repeat(new string('l', 60), 4)) + ".client.test";

    /// <summary>(client address, its verified name or null, its PTR name or null, Postfix's answer to RCPT on each port).</summary>
    public static TheoryData<string, string, string, int, int> Clients => new()
    {
        // verified by /etc/hosts
        { "127.0.0.20", "good.client.test", "good.client.test", 250, 250 },
        // PTR forged.client.test, whose A record is another address
        { "127.0.0.21", "unknown", "forged.client.test", 250, 550 },
        // no PTR record: NXDOMAIN
        { "127.0.0.22", "unknown", "unknown", 550, 550 },
        // the resolver never answers: temporary, 450
        { "127.0.0.23", "unknown", "unknown", 450, 450 },
        // a 255-character verified name: the proxy splits XCLIENT in two
        { "127.0.0.24", LongName, LongName, 250, 250 },
    };

    [SkippableTheory]
    [MemberData(nameof(Clients))]
    public async Task Postfix_judges_the_client_through_the_proxy_as_it_does_directly(
        string client, string name, string reverseName, int reverseNameRestriction, int nameRestriction)
    {
        Peers.Require();
        Assert.True(File.Exists("/usr/bin/python3"), "/usr/bin/python3 is needed for the scripted DNS server");
        Assert.Equal(255, LongName.Length);

        await using var world = await NamedWorld.StartAsync(output);
        await using var proxy = await ProxyProcess.StartAsync(
            output,
            [
                new ListenerSpec("reverse", ReverseNamePort) { ListenHost = ProxyAddress, LookupClientName = true, ClientNameLookupTimeout = ProxyLookupTimeout },
                new ListenerSpec("name", NamePort) { ListenHost = ProxyAddress, LookupClientName = true, ClientNameLookupTimeout = ProxyLookupTimeout },
            ],
            [],
            ehloCachePath: null,
            netns: world.Namespace);

        foreach (var (listener, port, expected) in new[] { ("reverse", ReverseNamePort, reverseNameRestriction), ("name", NamePort, nameRestriction) })
        {
            var direct = await world.ProbeAsync(client, PostfixAddress, port, "direct");
            var proxied = await world.ProbeAsync(client, ProxyAddress, proxy[listener].ListenPort, "proxied");

            Assert.Equal(expected, direct.Rcpt);
            Assert.Equal(direct.Rcpt, proxied.Rcpt);
            Assert.Equal(direct.RcptText.Replace(direct.Id, "ID", StringComparison.Ordinal), proxied.RcptText.Replace(proxied.Id, "ID", StringComparison.Ordinal));

            // What Postfix used, from its own log (the policy service's WARN): the same names either way; the server
            // address and port are where the client connected, Postfix itself or the proxy.
            var directSeen = await world.PolicyLineAsync(direct.Id);
            var proxiedSeen = await world.PolicyLineAsync(proxied.Id);
            Assert.Contains($" client_address={client} client_name={name} reverse_client_name={reverseName} ", directSeen, StringComparison.Ordinal);
            Assert.Contains($" client_address={client} client_name={name} reverse_client_name={reverseName} ", proxiedSeen, StringComparison.Ordinal);
            Assert.Contains($" server_address={PostfixAddress} server_port={port} ", directSeen, StringComparison.Ordinal);
            Assert.Contains($" server_address={ProxyAddress} server_port={proxy[listener].ListenPort} ", proxiedSeen, StringComparison.Ordinal);
            Assert.Contains(" sasl_method= sasl_username= ", proxiedSeen, StringComparison.Ordinal);

            if (client == "127.0.0.23")
            {
                // Postfix waits for the resolver's timeout before its banner; the proxy answers after its own.
                Assert.True(direct.BannerSeconds >= ResolverTimeoutSeconds - 0.5, $"direct banner after {direct.BannerSeconds} s");
                Assert.True(proxied.BannerSeconds < ResolverTimeoutSeconds - 0.5, $"proxied banner after {proxied.BannerSeconds} s");
            }
        }
    }

    /// <summary>The namespace with its files, DNS server and Postfix; torn down in reverse.</summary>
    private sealed class NamedWorld : IAsyncDisposable
    {
        private readonly ITestOutputHelper _output;
        private readonly string _etcDir;
        private readonly Dictionary<string, string> _postfixEnv;
        private System.Diagnostics.Process? _dns;
        private Task<string>? _dnsOutput;
        private bool _postfixStarted;

        private NamedWorld(ITestOutputHelper output, NetworkNamespace netns)
        {
            _output = output;
            Namespace = netns;
            _etcDir = Path.Combine("/etc/netns", netns.Name);
            var instance = "names" + Environment.ProcessId;
            PostfixDir = Path.Combine(Peers.StateDir, "postfix-" + instance);
            Log = new LogFile(Path.Combine(PostfixDir, "maillog"));
            var policy = Path.Combine(PostfixDir, "policy.sh");
            _postfixEnv = new Dictionary<string, string>
            {
                ["PF_NAME"] = instance,
                ["PF_NETNS"] = netns.Name,
                ["PF_ADDR"] = PostfixAddress,
                ["PF_PORT"] = ReverseNamePort.ToString(),
                ["PF_PROXY_PORT"] = "2526",
                ["PF_TLS"] = "0",
                ["PF_MAIN_EXTRA"] = string.Join('\n',
                    "smtpd_peername_lookup = yes",
                    "unknown_client_reject_code = 550",
                    "smtpd_client_restrictions = check_policy_service unix:private/xclient-policy, reject_unknown_reverse_client_hostname"),
                ["PF_MASTER_EXTRA"] = string.Join('\n',
                    $"{PostfixAddress}:{NamePort} inet n - n - - smtpd",
                    "  -o syslog_name=postfix-names/name",
                    "  -o smtpd_client_restrictions=check_policy_service,unix:private/xclient-policy,reject_unknown_client_hostname",
                    $"xclient-policy unix - n n - 0 spawn user=nobody argv=/bin/bash {policy}"),
            };
        }

        public NetworkNamespace Namespace { get; }

        public string PostfixDir { get; }

        public LogFile Log { get; }

        public static async Task<NamedWorld> StartAsync(ITestOutputHelper output)
        {
            var world = new NamedWorld(output, await NetworkNamespace.CreateAsync("epp-names"));
            try
            {
                await world.SetUpAsync();
            }
            catch
            {
                await world.DisposeAsync();
                throw;
            }

            return world;
        }

        private async Task SetUpAsync()
        {
            // ip netns exec mounts these over /etc/hosts and /etc/resolv.conf for what it starts, and only for that.
            Directory.CreateDirectory(_etcDir);
            await File.WriteAllTextAsync(Path.Combine(_etcDir, "hosts"), string.Join('\n',
                "127.0.0.1 localhost",
                "127.0.0.20 good.client.test",
                $"127.0.0.24 {LongName}",
                ""));
            await File.WriteAllTextAsync(Path.Combine(_etcDir, "resolv.conf"),
                $"nameserver 127.0.0.1\noptions timeout:{ResolverTimeoutSeconds} attempts:1\n");

            _dns = Namespace.Start(["/usr/bin/python3", Path.Combine(Peers.ScriptsDir!, "stub-dns.py"), "--listen", "127.0.0.1", "--port", "53",
                "--ptr", "127.0.0.21=forged.client.test", "--a", "forged.client.test=127.0.0.99", "--stall", "127.0.0.23"]);
            var ready = await _dns.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(20));
            if (ready != "stub-dns ready")
            {
                _dns.Kill();
                Assert.Fail("stub-dns.py did not start: " + ready + await _dns.StandardError.ReadToEndAsync());
            }

            _dnsOutput = _dns.StandardOutput.ReadToEndAsync();

            Directory.CreateDirectory(PostfixDir);
            var policy = Path.Combine(PostfixDir, "policy.sh");
            await File.WriteAllTextAsync(policy, PolicyScript);
            await PeerScripts.RunCheckedAsync("postfix.sh", ["stop"], _postfixEnv);
            await PeerScripts.RunCheckedAsync("postfix.sh", ["start"], _postfixEnv);
            _postfixStarted = true;
        }

        /// <summary>A Postfix policy service (smtpd_access_policy) that answers WARN with what it was told.</summary>
        private const string PolicyScript = """
            #!/bin/bash
            # Written by ClientNameTests: makes Postfix log the client attributes it judges by.
            declare -A attr
            while IFS= read -r line; do
              line=${line%$'\r'}
              if [ -z "$line" ]; then
                printf 'action=WARN xclient-names sender=%s client_address=%s client_name=%s reverse_client_name=%s server_address=%s server_port=%s sasl_method=%s sasl_username=%s end\n\n' \
                  "${attr[sender]}" "${attr[client_address]}" "${attr[client_name]}" "${attr[reverse_client_name]}" \
                  "${attr[server_address]}" "${attr[server_port]}" "${attr[sasl_method]}" "${attr[sasl_username]}"
                attr=()
              else
                attr[${line%%=*}]=${line#*=}
              fi
            done
            """;

        public async Task<ProbeResult> ProbeAsync(string source, string host, int port, string how)
        {
            var id = $"{how}-{Guid.NewGuid():N}"[..24];
            var result = await Namespace.ExecAsync(
                ["/usr/bin/python3", Path.Combine(Peers.ScriptsDir!, "smtp-probe.py"), "--source", source, "--host", host, "--port", port.ToString(),
                    "--helo", "probe.client.test", "--mail-from", id + "@client.test", "--rcpt", "someone@" + PostfixFixture.Domain],
                TimeSpan.FromSeconds(60));
            _output.WriteLine($"{how} {source} -> {host}:{port}: {result.Stdout.Trim()} {result.Stderr.Trim()}");
            Assert.True(result.ExitCode == 0, result.ToString());
            using var json = JsonDocument.Parse(result.Stdout);
            var rcpt = json.RootElement.TryGetProperty("rcpt", out var r) ? r : default;
            return new ProbeResult(
                id,
                json.RootElement.GetProperty("banner_seconds").GetDouble(),
                rcpt.ValueKind == JsonValueKind.Object ? rcpt.GetProperty("code").GetInt32() : 0,
                rcpt.ValueKind == JsonValueKind.Object ? rcpt.GetProperty("text").GetString() ?? "" : "");
        }

        public Task<string> PolicyLineAsync(string id) =>
            Log.WaitForLineAsync(0, l => l.Contains("xclient-names sender=" + id + "@client.test ", StringComparison.Ordinal), "Postfix's policy WARN for " + id);

        public async ValueTask DisposeAsync()
        {
            if (_postfixStarted)
            {
                await PeerScripts.RunAsync("postfix.sh", ["stop"], _postfixEnv);
            }

            if (_dns is not null)
            {
                try
                {
                    _dns.Kill();
                    await _dns.WaitForExitAsync();
                }
                catch (InvalidOperationException)
                {
                }

                if (_dnsOutput is not null)
                {
                    _output.WriteLine("--- stub-dns.py\n" + await _dnsOutput);
                }

                _dns.Dispose();
            }

            await Namespace.DisposeAsync();
            try
            {
                Directory.Delete(_etcDir, recursive: true);
            }
            catch (DirectoryNotFoundException)
            {
            }
        }
    }

    private sealed record ProbeResult(string Id, double BannerSeconds, int Rcpt, string RcptText);
}
