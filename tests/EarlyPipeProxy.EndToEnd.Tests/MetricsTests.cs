using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using EarlyPipeProxy.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace EarlyPipeProxy.EndToEnd.Tests;

/// <summary>
/// The dashboard, proven on a real Prometheus: the proxy runs an inbound listener in front of Postfix (an Exim client
/// early-pipelines through it), a strict inbound listener that refuses early input, and an outbound listener that a
/// lockstep sender (swaks) uses toward an Exim server with PIPECONNECT and STARTTLS. Prometheus scrapes the proxy
/// every second while the traffic runs in three phases (learn, early, early again: rate() needs a series to grow
/// between samples), then every expression of grafana/dashboards/earlypipe.json must return at least one series, and
/// the savings panels values above zero.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class MetricsTests(PostfixFixture postfix, ITestOutputHelper output)
{
    [SkippableFact]
    public async Task Every_dashboard_expression_returns_series_that_match_a_run_with_real_peers()
    {
        await postfix.EnsureStartedAsync();
        RequirePrometheus();
        var dashboard = Path.Combine(RepositoryRoot.Find(), "grafana", "dashboards", "earlypipe.json");
        var expressions = DashboardExpressions(dashboard);
        Assert.NotEmpty(expressions);

        await using var exim = await EximServer.StartAsync("metrics", new Dictionary<string, string>
        {
            ["EXIM_PIPE_CONNECT"] = "1",
            ["EXIM_TLS"] = "1",
            ["EXIM_REJECT_PREFIX"] = "refuse",
        });
        var metricsPort = Peers.FreePort();
        var outboundPort = Peers.FreePort();
        var cacheDir = Directory.CreateTempSubdirectory("earlypipe-metrics-").FullName;
        var sections = new Dictionary<string, object>
        {
            ["Metrics"] = new { Listen = $"127.0.0.1:{metricsPort}", ProbeInterval = "00:00:01" },
            ["EhloCache"] = new { DatabasePath = Path.Combine(cacheDir, "ehlo-cache.db") },
            ["Outbound"] = new[]
            {
                new
                {
                    Name = "smarthost",
                    Listen = $"127.0.0.1:{outboundPort}",
                    Upstream = $"127.0.0.1:{exim.Port}",
                    Tls = new { Mode = "Opportunistic", VerifyCertificate = false },
                    Timeouts = new { Command = "00:01:00" },
                },
            },
        };
        await using var proxy = await ProxyProcess.StartAsync(output, sections,
            new ListenerSpec("smtp", postfix.SmtpPort),
            new ListenerSpec("strict", postfix.SmtpPort) { AdvertiseHosts = [":"] });
        await using var prometheus = await PrometheusServer.StartAsync(metricsPort, output);
        await prometheus.WaitForScrapesAsync(2);

        var id = "metrics-" + Guid.NewGuid().ToString("N")[..8];
        for (var phase = 1; phase <= 3; phase++)
        {
            await RunPhaseAsync(proxy, outboundPort, exim, id + "-" + phase.ToString(CultureInfo.InvariantCulture), resetCache: phase == 1);
            await prometheus.WaitForScrapesAsync(3);
        }

        var failures = new List<string>();
        foreach (var expression in expressions)
        {
            var query = Substitute(expression);
            var result = await prometheus.QueryAsync(query);
            output.WriteLine($"{query}\n  => {string.Join("; ", result.Select(r => $"{{{string.Join(',', r.Labels.Select(l => l.Key + "=" + l.Value))}}} {r.Value}"))}");
            if (result.Count == 0)
            {
                failures.Add("no series: " + query);
                continue;
            }

            if (IsSavingsExpression(expression) && !result.Any(r => r.Value > 0))
            {
                failures.Add("a savings panel shows nothing saved after early-pipelined sessions: " + query);
            }
        }

        Assert.True(failures.Count == 0, string.Join('\n', failures));

        // The run's facts, straight from the counters.
        Assert.True(await ValueAsync(prometheus, "sum(earlypipe_round_trips_saved_total{direction=\"inbound\"})") > 0, "no inbound round trips saved");
        Assert.True(await ValueAsync(prometheus, "sum(earlypipe_round_trips_saved_total{direction=\"outbound\"})") > 0, "no outbound round trips saved");
        Assert.True(await ValueAsync(prometheus, "sum(earlypipe_sessions_total{direction=\"inbound\",early=\"used\"})") >= 2, "fewer than 2 early inbound sessions");
        Assert.True(await ValueAsync(prometheus, "sum(earlypipe_early_input_total{decision=\"refused\"})") >= 3, "early input refused at the strict listener was not counted");
        Assert.True(await ValueAsync(prometheus, "sum(earlypipe_ehlo_cache_lookups_total{result=\"hit\"})") > 0, "no EHLO cache hits");
        Assert.True(await ValueAsync(prometheus, "sum(earlypipe_ehlo_cache_flushes_total{reason=\"permanent_rejection\"})") >= 2, "a 550 in an early transaction did not flush the entry");
        Assert.True(await ValueAsync(prometheus, "sum(earlypipe_tls_handshakes_total{side=\"upstream\",resumed=\"true\"})") > 0, "no resumed TLS session toward Exim");
        Assert.Equal(1, await ValueAsync(prometheus, "min(earlypipe_upstream_up)"));

        // The exposition itself passes Prometheus's own linter.
        var scraped = await new HttpClient().GetStringAsync($"http://127.0.0.1:{metricsPort}/metrics");
        var (code, lint) = await PromtoolCheckMetricsAsync(scraped);
        Assert.True(code == 0, "promtool check metrics:\n" + lint);
        Directory.Delete(cacheDir, recursive: true);
    }

    /// <summary>
    /// One phase: an Exim client through the inbound listener (early from the second phase on, once it has the proxy's
    /// reply cached), an early talker at the strict listener, and through the outbound listener a good message and one
    /// with a refused recipient (in an early session from the second phase on: that 550 flushes the cache entry).
    /// </summary>
    private async Task RunPhaseAsync(ProxyProcess proxy, int outboundPort, EximServer exim, string id, bool resetCache)
    {
        var sent = await EximClient.SendAsync(new EximSendOptions { ToPort = proxy["smtp"].ListenPort, ResetCache = resetCache },
            Messages.WithDots(id), PostfixFixture.Address(id));
        Assert.True(sent.Delivered, "inbound message not delivered:\n" + sent);

        // The proxy decides when it is about to write the banner, which a warm Postfix lets it do within a millisecond
        // of the connect: a talker whose EHLO is not there yet is simply a polite client (Exim's own race, P16).
        var refused = false;
        for (var attempt = 0; attempt < 10 && !refused; attempt++)
        {
            await using var early = await RawSmtpClient.ConnectAsync("127.0.0.1", proxy["strict"].ListenPort);
            await early.SendAsync("EHLO early.talker\r\n");
            refused = (await early.ReadReplyAsync())?.Code == 554;
        }

        Assert.True(refused, "ten early talkers at the strict listener, none refused with 554");

        Assert.Equal(0, await SwaksAsync(outboundPort, $"good-{id}@exim.test", id + "-good"));
        Assert.NotEqual(0, await SwaksAsync(outboundPort, $"refuse-{id}@exim.test", id + "-refused"));
        output.WriteLine($"phase {id}: exim log tail:\n{exim.Log.ReadSince(0).Split('\n').TakeLast(5).Aggregate((a, b) => a + "\n" + b)}");
    }

    private async Task<int> SwaksAsync(int port, string recipient, string id)
    {
        var psi = new ProcessStartInfo("swaks")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[]
        {
            "--server", "127.0.0.1", "--port", port.ToString(CultureInfo.InvariantCulture), "--helo", "legacy.sender.test",
            "--from", "sender@legacy.test", "--to", recipient, "--header", $"Message-Id: <{id}@legacy.test>", "--timeout", "30",
        })
        {
            psi.ArgumentList.Add(arg);
        }

        using var process = Process.Start(psi)!;
        var stdout = await process.StandardOutput.ReadToEndAsync();
        var stderr = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        output.WriteLine($"swaks to {recipient}: exit {process.ExitCode}\n{stdout}{stderr}");
        return process.ExitCode;
    }

    private static async Task<double> ValueAsync(PrometheusServer prometheus, string query)
    {
        var result = await prometheus.QueryAsync(query);
        return result.Count == 0 ? double.NaN : result[0].Value;
    }

    private static async Task<(int Code, string Output)> PromtoolCheckMetricsAsync(string exposition)
    {
        var psi = new ProcessStartInfo(PrometheusServer.Promtool, ["check", "metrics"])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var process = Process.Start(psi)!;
        await process.StandardInput.WriteAsync(exposition);
        process.StandardInput.Close();
        var stdout = await process.StandardOutput.ReadToEndAsync();
        var stderr = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, stdout + stderr);
    }

    /// <summary>Every target expression of every panel, rows' nested panels included.</summary>
    private static List<string> DashboardExpressions(string path)
    {
        using var json = JsonDocument.Parse(File.ReadAllText(path));
        var expressions = new List<string>();
        void Walk(JsonElement panels)
        {
            foreach (var panel in panels.EnumerateArray())
            {
                if (panel.TryGetProperty("targets", out var targets))
                {
                    foreach (var target in targets.EnumerateArray())
                    {
                        if (target.TryGetProperty("expr", out var expr) && expr.GetString() is { Length: > 0 } text)
                        {
                            expressions.Add(text);
                        }
                    }
                }

                if (panel.TryGetProperty("panels", out var nested))
                {
                    Walk(nested);
                }
            }
        }

        Walk(json.RootElement.GetProperty("panels"));
        return expressions;
    }

    // Grafana's variables as "All" would expand them; one minute spans many one-second scrapes.
    private static string Substitute(string expression) => expression
        .Replace("$__rate_interval", "1m", StringComparison.Ordinal)
        .Replace("${instance}", ".*", StringComparison.Ordinal)
        .Replace("$instance", ".*", StringComparison.Ordinal)
        .Replace("${listener}", ".*", StringComparison.Ordinal)
        .Replace("${direction}", ".*", StringComparison.Ordinal)
        .Replace("$listener", ".*", StringComparison.Ordinal)
        .Replace("$direction", ".*", StringComparison.Ordinal);

    private static bool IsSavingsExpression(string expression) =>
        expression.Contains("earlypipe_round_trips_saved_total", StringComparison.Ordinal)
        || expression.Contains("earlypipe_saved_seconds_total", StringComparison.Ordinal)
        || expression.Contains("early=\"used\"", StringComparison.Ordinal)
        || expression.Contains("result=\"hit\"", StringComparison.Ordinal);

    private static void RequirePrometheus()
    {
        if (PrometheusServer.UnavailableReason() is { } reason)
        {
            Skip.If(!Peers.IsCi, reason);
            Assert.Fail("CI=true but " + reason);
        }
    }
}
