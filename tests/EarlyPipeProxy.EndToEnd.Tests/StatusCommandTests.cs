using System.Globalization;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using EarlyPipeProxy.EndToEnd.Tests.Infrastructure;
using EarlyPipeProxy.Sessions.EhloCache;
using Xunit.Abstractions;

namespace EarlyPipeProxy.EndToEnd.Tests;

/// <summary>
/// `earlypipe status` as an operator runs it against a running proxy (through Control:SocketPath): its listeners with
/// their open sessions, the backend's health with the reason, the EHLO cache's size, a TLS listener's certificate
/// expiry; and one line, exit 1, when no proxy runs there.
/// </summary>
[Collection(EndToEndCollection.Name)]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class StatusCommandTests(PostfixFixture postfix, ITestOutputHelper output) : IDisposable
{
    // Short: a Unix socket path must fit in 108 bytes.
    private readonly string _dir = Directory.CreateTempSubdirectory("ep-st-").FullName;

    private string SocketPath => Path.Combine(_dir, "control.sock");

    private string Database => Path.Combine(_dir, "cache.db");

    [SkippableFact]
    public async Task Status_shows_the_listeners_an_open_session_the_backend_health_the_cache_size_and_the_certificate_expiry()
    {
        await postfix.EnsureStartedAsync();
        var tls = await TlsMaterial.EnsureAsync();
        await SeedCacheAsync();
        var deadBackend = Peers.FreePort();
        var sections = new Dictionary<string, object>
        {
            ["Control"] = new { SocketPath },
            ["EhloCache"] = new { DatabasePath = Database },
            ["Metrics"] = new { ProbeInterval = "00:00:01" },
        };
        await using var proxy = await ProxyProcess.StartAsync(output, sections,
            new ListenerSpec("smtp", postfix.SmtpPort) { Tls = tls, MaxConnections = 40 },
            new ListenerSpec("dead", deadBackend) { AcceptProxyHeaderFrom = ["192.0.2.0/24", "10.1.2.3"] });
        await Poll.UntilAsync(() => File.Exists(SocketPath), "the control socket");

        // One session held open on I=smtp.
        await using var client = await RawSmtpClient.ConnectAsync("127.0.0.1", proxy["smtp"].ListenPort);
        await client.ExpectAsync(220);
        await client.CommandAsync("EHLO status.client.test", 250);

        var report = await Poll.UntilAsync(() =>
        {
            var run = CliAsync("status", "--config", proxy.ConfigPath).GetAwaiter().GetResult();
            Assert.Equal(0, run.Exit);
            return run.Out.Contains("backend      127.0.0.1:" + postfix.SmtpPort + ": up", StringComparison.Ordinal)
                && run.Out.Contains("backend      127.0.0.1:" + deadBackend + ": down", StringComparison.Ordinal) ? run.Out : null;
        }, "status to show both backends probed", TimeSpan.FromSeconds(30));

        var smtp = Block(report, "smtp");
        Assert.Contains($"  address      127.0.0.1:{proxy["smtp"].ListenPort}\n", smtp, StringComparison.Ordinal);
        Assert.Contains("  kind         inbound, client identity Xclient, STARTTLS\n", smtp, StringComparison.Ordinal);
        Assert.Contains("  sessions     1 open, max 40\n", smtp, StringComparison.Ordinal);
        Assert.Contains($"  backend      127.0.0.1:{postfix.SmtpPort}: up (banner 220, EHLO 250, XCLIENT 220) (probed ", smtp, StringComparison.Ordinal);
        using (var certificate = X509Certificate2.CreateFromPemFile(tls.CertificatePath, tls.KeyPath))
        {
            var expiry = certificate.NotAfter.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
            Assert.Contains($"  certificate  {certificate.Subject}, expires {expiry} (in ", smtp, StringComparison.Ordinal);
        }

        var dead = Block(report, "dead");
        Assert.Contains("  sessions     0 open, max 1000\n", dead, StringComparison.Ordinal);
        Assert.Contains("  balancers    PROXY header from 192.0.2.0/24, 10.1.2.3 (required from them)\n", dead, StringComparison.Ordinal);
        Assert.DoesNotContain("balancers", smtp, StringComparison.Ordinal);
        Assert.Contains($"  backend      127.0.0.1:{deadBackend}: down: cannot connect to 127.0.0.1:{deadBackend}: Connection refused", dead, StringComparison.Ordinal);
        Assert.DoesNotContain("certificate", dead, StringComparison.Ordinal);

        var head = report[..report.IndexOf("\nlistener ", StringComparison.Ordinal)];
        Assert.Matches(@"^earlypipe \S+ \(pid \d+\), up \d+[dhms]( \d+[dhms])? since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\n", head);
        Assert.Contains($"pid {proxy.ProcessId})", head, StringComparison.Ordinal);
        Assert.Contains("EHLO cache   2 entries\n", head, StringComparison.Ordinal);
        Assert.Contains($"health       unhealthy (/healthz 503): backend dead 127.0.0.1:{deadBackend}", head, StringComparison.Ordinal);

        // The session ends, and the count follows.
        await client.CommandAsync("QUIT", 221);
        await Poll.UntilAsync(
            () => Block(CliAsync("status", "--config", proxy.ConfigPath).GetAwaiter().GetResult().Out, "smtp").Contains("  sessions     0 open, max 40\n", StringComparison.Ordinal),
            "the session count to drop to 0");
    }

    [Fact]
    public async Task Status_with_no_proxy_running_exits_1_with_one_line()
    {
        var config = Path.Combine(_dir, "earlypipe.json");
        await File.WriteAllTextAsync(config, JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["Inbound"] = new[] { new { Name = "smtp", Listen = $"127.0.0.1:{Peers.FreePort()}" } },
            ["Control"] = new { SocketPath = "control.sock" },
        }));

        var run = await CliAsync("status", "--config", config);

        Assert.Equal(1, run.Exit);
        Assert.Equal(string.Empty, run.Out);
        Assert.Equal($"earlypipe status: no proxy is running at {SocketPath}\n", run.Err);
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>The block of listener <paramref name="name"/>: its heading and its indented lines.</summary>
    private static string Block(string report, string name)
    {
        var start = report.IndexOf($"\nlistener {name}\n", StringComparison.Ordinal);
        Assert.True(start >= 0, $"no block for listener {name} in:\n{report}");
        var end = report.IndexOf("\n\n", start + 1, StringComparison.Ordinal);
        return end < 0 ? report[(start + 1)..] : report[(start + 1)..(end + 1)];
    }

    private async Task SeedCacheAsync()
    {
        var local = IPAddress.Parse("127.0.0.1");
        await using var cache = EhloCache.Open(new EhloCacheOptions { DatabasePath = Database }, TimeProvider.System);
        Assert.Equal(EhloLearnOutcome.Stored, cache.Learn(new EhloCacheKey(local, IPAddress.Parse("127.0.0.2"), 25, TlsPhase.Cleartext), 220,
            ["250-mx2.test", "250-PIPELINING", "250 PIPECONNECT"]));
        Assert.Equal(EhloLearnOutcome.Stored, cache.Learn(new EhloCacheKey(local, IPAddress.Parse("127.0.0.3"), 25, TlsPhase.Cleartext), 220,
            ["250-mx3.test", "250-PIPELINING", "250 PIPECONNECT"]));
    }

    private Task<(int Exit, string Out, string Err)> CliAsync(params string[] args) => EarlypipeCommand.RunAsync(output, args);
}
