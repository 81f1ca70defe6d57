using System.Diagnostics;
using System.Globalization;
using Xunit.Abstractions;
using EarlyPipeProxy.EndToEnd.Tests.Infrastructure;

namespace EarlyPipeProxy.EndToEnd.Tests;

/// <summary>
/// Runs alone: the measurement is about tens of milliseconds on a small machine, and other end-to-end
/// tests running at the same time would add their CPU load to both paths.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class LatencyCollection
{
    public const string Name = "Latency (network namespaces, runs alone)";
}

/// <summary>
/// The product's promise, on the wire: bench/rtt/measure.sh puts an Exim 4.96 client and Postfix 3.7 in two
/// network namespaces joined by a 25 ms (each way) link, and measures SYN to end-of-message reply, directly and
/// through the proxy, for BDAT and DATA clients. Once Exim has the proxy's EHLO reply cached, its connections
/// through the proxy must take at least 1.2 RTT less than the same client's connections straight to Postfix.
/// With STARTTLS (Exim TLS=require; Postfix's own STARTTLS directly, a proxy listener with "Tls" otherwise) the early
/// EHLO,STARTTLS saves the banner and EHLO round trips and the post-TLS EHLO,MAIL,RCPT,BDAT flight saves another:
/// at least 2.0 RTT.
/// </summary>
[Collection(LatencyCollection.Name)]
public sealed class LatencyTests(ITestOutputHelper output)
{
    private const double MinimumSavedRtt = 1.2;
    private const double MinimumSavedRttStartTls = 2.0;
    private const double MaximumOutboundRtt = 3.8;
    private const double MinimumOutboundSavedRtt = 4.0;
    private const double MaximumWarmOutboundRtt = 2.6;
    private static readonly TimeSpan MeasureTimeout = TimeSpan.FromMinutes(3);

    [SkippableFact]
    public async Task Early_pipelining_through_the_proxy_saves_at_least_1_2_RTT_per_connection_against_direct_Postfix()
    {
        RequireNetworkNamespaces();
        var root = RepositoryRoot.Find();
        var script = Path.Combine(root, "bench", "rtt", "measure.sh");
        Assert.True(File.Exists(script), "missing " + script);
        Assert.True(
            File.Exists(Path.Combine(AppContext.BaseDirectory, "earlypipe.dll")),
            "earlypipe.dll is not in the test output directory " + AppContext.BaseDirectory);

        var results = Path.Combine(Path.GetTempPath(), $"earlypipe-rtt-{Environment.ProcessId}-{Guid.NewGuid():N}.txt");
        var run = await BenchScript.RunAsync(
            script,
            new Dictionary<string, string>
            {
                ["N"] = "5",
                ["DELAY_MS"] = "25",
                ["MODES"] = "1 0 tls",
                ["PROXY"] = "1",
                ["PROXY_DIR"] = AppContext.BaseDirectory,
                ["RESULTS"] = results,
            },
            MeasureTimeout,
            TimeSpan.FromSeconds(20),
            output);
        try
        {
            output.WriteLine(run.Stdout);
            output.WriteLine("--- measure.sh stderr (steps, and one RESULT line per connection) ---\n" + run.Stderr);

            Assert.True(run.ExitCode == 0, $"bench/rtt/measure.sh exited with {run.ExitCode}:\n{run.Stderr}");

            var rows = ParseResults(run.Stdout);
            foreach (var mode in new[] { "BDAT", "DATA", "STARTTLS" })
            {
                var minimum = mode == "STARTTLS" ? MinimumSavedRttStartTls : MinimumSavedRtt;
                var direct = Row(rows, mode, "direct");
                var proxied = Row(rows, mode, "proxy");
                var saved = direct.MedianRtt - proxied.MedianRtt;
                output.WriteLine(
                    $"{mode}: direct {direct.MedianRtt:F2} RTT, through the proxy {proxied.MedianRtt:F2} RTT, saved {saved:F2} RTT");

                Assert.True(
                    direct.Early == 0,
                    $"{mode}: {direct.Early} direct connections to Postfix were early-pipelined, but Postfix offers no PIPECONNECT");
                Assert.True(
                    proxied.Early == proxied.Count,
                    $"{mode}: only {proxied.Early} of {proxied.Count} connections through the proxy were early-pipelined " +
                    "(EHLO before the banner): the proxy's PIPECONNECT was not used");
                Assert.True(
                    saved >= minimum,
                    $"{mode}: the proxy saved {saved:F2} RTT (direct {direct.MedianRtt:F2}, proxied {proxied.MedianRtt:F2}); " +
                    $"expected at least {minimum} RTT\n{run.Stdout}");
            }
        }
        finally
        {
            File.Delete(results);
        }
    }

    /// <summary>
    /// The outbound proxy's promise, on the wire: bench/rtt/outbound.sh runs a strictly lockstep sender in the client
    /// namespace, straight to an Exim 4.96 server (PIPECONNECT, CHUNKING) in the server namespace and through the
    /// outbound proxy beside the sender, and times each connection from connect() to the reply to QUIT. With Exim's
    /// reply cached, each proxied connection must be early-pipelined (Exim logs L*), cost at most
    /// <see cref="MaximumOutboundRtt"/> and save at least <see cref="MinimumOutboundSavedRtt"/> against direct.
    /// The floor is 3 RTT (TCP handshake, the EHLO/MAIL/RCPT flight, the message); the 3.5 is the target
    /// the medians meet (bench/README.md), and the test allows 0.3 RTT more for Exim's own work and this VM's
    /// scheduling, which vary from run to run. Its later sessions in a row over a warm connection (ConnectionCache, the
    /// connection the previous session parked) cost at most <see cref="MaximumWarmOutboundRtt"/>: the RCPT's round trip
    /// and the end of data's, 2 RTT, plus Exim's own end-of-data work (about 0.1 RTT here, as on the direct path) and
    /// room for this VM's scheduling (2.30 to 2.59 measured, bench/README.md; the goal is 2.1).
    /// </summary>
    [SkippableFact]
    public async Task A_lockstep_sender_through_the_outbound_proxy_costs_about_3_5_RTT_where_direct_costs_over_8()
    {
        RequireNetworkNamespaces();
        var script = Path.Combine(RepositoryRoot.Find(), "bench", "rtt", "outbound.sh");
        var results = Path.Combine(Path.GetTempPath(), $"earlypipe-outbound-rtt-{Environment.ProcessId}-{Guid.NewGuid():N}.txt");
        var run = await BenchScript.RunAsync(script, new Dictionary<string, string>
        {
            ["N"] = "5",
            ["DELAY_MS"] = "25",
            ["PROXY_DIR"] = AppContext.BaseDirectory,
            ["RESULTS"] = results,
        }, MeasureTimeout, TimeSpan.FromSeconds(20), output);
        try
        {
            output.WriteLine(run.Stdout);
            output.WriteLine("--- outbound.sh stderr ---\n" + run.Stderr);
            Assert.True(run.ExitCode == 0, $"bench/rtt/outbound.sh exited with {run.ExitCode}:\n{run.Stderr}");

            var rows = ParseResults(run.Stdout);
            var direct = Row(rows, "LOCKSTEP", "direct");
            var proxied = Row(rows, "LOCKSTEP", "proxy");
            var saved = direct.MedianRtt - proxied.MedianRtt;
            output.WriteLine($"lockstep sender: direct {direct.MedianRtt:F2} RTT, through the outbound proxy {proxied.MedianRtt:F2} RTT, saved {saved:F2} RTT");

            Assert.True(direct.Early == 0, $"{direct.Early} direct sessions were early-pipelined, but the sender is lockstep");
            Assert.True(proxied.Early == proxied.Count, $"only {proxied.Early} of {proxied.Count} proxied sessions were early-pipelined at Exim (L*)");
            Assert.True(proxied.MedianRtt <= MaximumOutboundRtt, $"through the proxy {proxied.MedianRtt:F2} RTT, more than {MaximumOutboundRtt}\n{run.Stdout}");
            Assert.True(saved >= MinimumOutboundSavedRtt, $"saved {saved:F2} RTT, less than {MinimumOutboundSavedRtt}\n{run.Stdout}");
            var warm = Row(rows, "LOCKSTEP", "warm");
            output.WriteLine($"later sessions over a warm connection: {warm.MedianRtt:F2} RTT");
            Assert.True(warm.MedianRtt <= MaximumWarmOutboundRtt, $"over a warm connection {warm.MedianRtt:F2} RTT, more than {MaximumWarmOutboundRtt}\n{run.Stdout}");
        }
        finally
        {
            File.Delete(results);
        }
    }

    private sealed record ResultRow(string Mode, string Path, int Count, double MedianRtt, int Early);

    private static ResultRow Row(IReadOnlyList<ResultRow> rows, string mode, string path) =>
        rows.SingleOrDefault(r => r.Mode == mode && r.Path == path)
        ?? throw new Xunit.Sdk.XunitException($"measure.sh printed no RTT_RESULT for mode={mode} path={path} with status=ok");

    /// <summary>
    /// Lines such as <c>RTT_RESULT mode=BDAT path=proxy status=ok n=3 median_ms=119.6 median_rtt=2.36 early=3 rtt_ms=50.7</c>.
    /// </summary>
    private static List<ResultRow> ParseResults(string stdout)
    {
        var rows = new List<ResultRow>();
        foreach (var line in stdout.Split('\n'))
        {
            if (!line.StartsWith("RTT_RESULT ", StringComparison.Ordinal))
            {
                continue;
            }

            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries)
                .Skip(1)
                .Select(f => f.Split('=', 2))
                .Where(kv => kv.Length == 2)
                .ToDictionary(kv => kv[0], kv => kv[1], StringComparer.Ordinal);
            if (fields.GetValueOrDefault("status") != "ok")
            {
                continue;
            }

            rows.Add(new ResultRow(
                fields["mode"],
                fields["path"],
                int.Parse(fields["n"], CultureInfo.InvariantCulture),
                double.Parse(fields["median_rtt"], CultureInfo.InvariantCulture),
                int.Parse(fields["early"], CultureInfo.InvariantCulture)));
        }

        return rows;
    }

    /// <summary>Skips without root or `ip netns`, except with CI=true, where those are failures.</summary>
    internal static void RequireNetworkNamespaces()
    {
        var reason = WhyNotRunnable();
        if (reason is null)
        {
            return;
        }

        if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
        {
            Assert.Fail("CI=true, so the latency test must run, but: " + reason);
        }

        Skip.If(true, reason);
    }

    private static string? WhyNotRunnable()
    {
        if (!OperatingSystem.IsLinux())
        {
            return "the latency test needs Linux network namespaces";
        }

        if (!Environment.IsPrivilegedProcess)
        {
            return "the latency test needs root (network namespaces, tcpdump, Postfix); run `sudo dotnet test` or set CI=true on a root runner";
        }

        try
        {
            using var ip = Process.Start(new ProcessStartInfo("ip", "netns list")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            });
            if (ip is null)
            {
                return "cannot start `ip netns list`";
            }

            ip.StandardOutput.ReadToEnd();
            var err = ip.StandardError.ReadToEnd();
            if (!ip.WaitForExit(10_000) || ip.ExitCode != 0)
            {
                return "`ip netns` is unavailable: " + err.Trim();
            }
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return "`ip` (iproute2) is not installed: " + e.Message;
        }

        return null;
    }
}
