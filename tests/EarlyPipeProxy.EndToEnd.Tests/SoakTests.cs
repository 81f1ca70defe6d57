using System.Globalization;
using Xunit.Abstractions;
using EarlyPipeProxy.EndToEnd.Tests.Infrastructure;

namespace EarlyPipeProxy.EndToEnd.Tests;

/// <summary>Runs alone: the soak loads the machine, and Postfix is killed under it.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SoakCollection
{
    public const string Name = "Soak (kills its own Postfix, runs alone)";
}

/// <summary>
/// The short version of bench/soak/run.sh: 600 messages through one proxy process, inbound (early-pipelined and
/// lockstep clients, some with STARTTLS, BDAT and DATA, to Postfix via XCLIENT) and outbound (lockstep senders to an
/// Exim with PIPECONNECT and STARTTLS) at once, while Postfix is killed with -9 and restarted, stopped and started,
/// Exim is stopped with SIGSTOP for 3 s, and clients close in the middle of DATA and of BDAT. The script's own
/// verification reads the maildirs; this test asserts its SOAK_RESULT line: every message a sender saw 2xx for is
/// delivered exactly once, nothing aborted or refused is delivered, delivered bodies are the ones sent, the proxy
/// is alive with its RSS under the bound, and the probe connections (one a second to each listener) got a reply
/// within 2 s except in fault windows or while the MTA behind was itself that slow.
/// </summary>
[Collection(SoakCollection.Name)]
public sealed class SoakTests(ITestOutputHelper output)
{
    private static readonly TimeSpan RunTimeout = TimeSpan.FromMinutes(6);

    [SkippableFact]
    public async Task A_short_soak_with_faults_delivers_every_acknowledged_message_once_and_nothing_aborted()
    {
        Peers.Require();
        var script = Path.Combine(RepositoryRoot.Find(), "bench", "soak", "run.sh");
        Assert.True(File.Exists(script), "missing " + script);
        var dll = Path.Combine(AppContext.BaseDirectory, "earlypipe.dll");
        Assert.True(File.Exists(dll), "earlypipe.dll is not in the test output directory " + AppContext.BaseDirectory);

        var results = Path.Combine(Path.GetTempPath(), $"earlypipe-soak-{Environment.ProcessId}-{Guid.NewGuid():N}.md");
        var run = await BenchScript.RunAsync(script, new Dictionary<string, string>
        {
            ["SOAK_MESSAGES"] = "600",
            ["SOAK_ABORT_EVERY"] = "10",
            ["SOAK_FAULTS"] = "postfix-kill:0.2,exim-stall:0.4,postfix-restart:0.6,exim-stall:0.8",
            ["SOAK_STALL_SECONDS"] = "3",
            ["SOAK_DOWN_SECONDS"] = "2",
            ["BASE_PORT"] = FreePortRange(5).ToString(CultureInfo.InvariantCulture),
            ["NO_BUILD"] = "1",
            ["PROXY_DLL"] = dll,
            ["PEERS_DIR"] = Peers.StateDir,
            ["RESULTS"] = results,
        }, RunTimeout, TimeSpan.FromSeconds(30), output);
        try
        {
            output.WriteLine(run.Stdout);
            output.WriteLine("--- run.sh stderr ---\n" + run.Stderr);
            var r = ParseResult(run.Stdout);

            Assert.True(r["proxy_alive"] == 1, "the proxy process was gone at the end of the soak");
            Assert.True(r["messages"] == 600 && r["inbound"] + r["outbound"] == 600, "not every message has a record");
            Assert.True(r["lost"] == 0, $"{r["lost"]} messages acknowledged 2xx were not delivered");
            Assert.True(r["duplicates"] == 0, $"{r["duplicates"]} messages were delivered twice (under two queue ids)");
            Assert.True(r["aborted_delivered"] == 0, $"{r["aborted_delivered"]} aborted messages were delivered");
            Assert.True(r["rejected_delivered"] == 0 && r["notsent_delivered"] == 0, "a refused or never-sent message was delivered");
            Assert.True(r["corrupt"] == 0 && r["unknown_delivered"] == 0, "a delivered message differs from any sent");
            Assert.True(r["rss_max_kib"] <= r["rss_limit_kib"], $"proxy RSS {r["rss_max_kib"]} KiB over {r["rss_limit_kib"]} KiB");
            Assert.True(
                r["probe_inbound_miss_unexcused"] == 0 && r["probe_outbound_miss_unexcused"] == 0,
                "a probe got no reply within 2 s outside the fault windows while the MTA behind answered");
            Assert.True(r["generator_errors"] == 0, "the load generator met replies it could not follow");

            // the soak really did what it claims
            Assert.True(r["ok"] >= 200, $"only {r["ok"]} messages were accepted");
            Assert.True(r["early"] > 0 && r["lockstep"] > 0 && r["tls"] > 0, "the mix lacks early, lockstep or STARTTLS sessions");
            Assert.True(r["fault_postfix_kill"] >= 1 && r["fault_postfix_restart"] >= 1 && r["fault_exim_stall"] >= 1, "a fault did not run");
            Assert.True(r["aborted_data"] >= 1 && r["aborted_bdat"] >= 1, "no client aborted mid-DATA or mid-BDAT");

            Assert.True(r["violations"] == 0, "run.sh reported violations:\n" + string.Join('\n', run.Stdout.Split('\n').Where(l => l.StartsWith("SOAK_VIOLATION", StringComparison.Ordinal))));
            Assert.True(run.ExitCode == 0, $"bench/soak/run.sh exited with {run.ExitCode}");
        }
        finally
        {
            File.Delete(results);
        }
    }

    /// <summary>The SOAK_RESULT line: key=value pairs, all integers except seconds (dropped here).</summary>
    private static Dictionary<string, long> ParseResult(string stdout)
    {
        var line = stdout.Split('\n').LastOrDefault(l => l.StartsWith("SOAK_RESULT ", StringComparison.Ordinal))
            ?? throw new Xunit.Sdk.XunitException("bench/soak/run.sh printed no SOAK_RESULT line:\n" + stdout);
        var result = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var kv in line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(f => f.Split('=', 2)))
        {
            if (kv.Length == 2 && long.TryParse(kv[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out var v))
            {
                result[kv[0]] = v;
            }
        }

        foreach (var key in new[] { "probe_inbound_miss_unexcused", "probe_outbound_miss_unexcused" })
        {
            if (!result.ContainsKey(key))
            {
                throw new Xunit.Sdk.XunitException($"SOAK_RESULT lacks {key} (no probes were made):\n{line}");
            }
        }

        return result;
    }

    /// <summary>A base port with <paramref name="count"/> consecutive ports nobody listens on (the script checks again).</summary>
    private static int FreePortRange(int count)
    {
        var random = new Random();
        for (var attempt = 0; attempt < 200; attempt++)
        {
            var start = random.Next(30000, 32000) * 2;
            if (Enumerable.Range(start, count).All(p => !Peers.IsListening(p)))
            {
                return start;
            }
        }

        throw new InvalidOperationException("no free range of ports");
    }

    private sealed record RunResult(int ExitCode, string Stdout, string Stderr);
}
