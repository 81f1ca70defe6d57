using System.Diagnostics;
using EarlyPipeProxy.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace EarlyPipeProxy.EndToEnd.Tests;

/// <summary>
/// The monitoring files as shipped, checked by Prometheus' own promtool: the dashboard's shape and every expression
/// (grafana/test/check.sh), and the alerting and recording rules with their unit tests, series in and alerts out, a
/// firing and a not-firing case for every alert (deploy/prometheus/check.sh). No proxy and no root needed: only
/// Debian's prometheus package (tests/peers/install.sh), which CI=true requires.
/// </summary>
public sealed class MonitoringRulesTests(ITestOutputHelper output)
{
    [SkippableFact]
    public async Task Dashboard_has_its_variables_units_and_descriptions_and_every_expression_is_valid_PromQL()
    {
        RequirePromtool();
        var (code, text) = await RunScriptAsync(Path.Combine("grafana", "test", "check.sh"));
        Assert.True(code == 0, "grafana/test/check.sh failed:\n" + text);
        Assert.Contains("SUCCESS", text, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Alert_rules_pass_promtool_and_their_unit_tests_fire_and_stay_silent_as_written()
    {
        RequirePromtool();
        var (code, text) = await RunScriptAsync(Path.Combine("deploy", "prometheus", "check.sh"));
        Assert.True(code == 0, "deploy/prometheus/check.sh failed:\n" + text);
        Assert.Contains("Unit Testing:  earlypipe-rules.test.yml\n  SUCCESS", text, StringComparison.Ordinal);
        Assert.Contains("each with a firing and a not-firing case", text, StringComparison.Ordinal);
    }

    private async Task<(int Code, string Output)> RunScriptAsync(string relativePath)
    {
        var psi = new ProcessStartInfo("bash")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = RepositoryRoot.Find(),
        };
        psi.ArgumentList.Add(Path.Combine(RepositoryRoot.Find(), relativePath));
        psi.Environment["PROMTOOL"] = PrometheusServer.Promtool;
        psi.Environment["PATH"] = "/usr/bin:/bin:" + Environment.GetEnvironmentVariable("PATH");
        using var process = Process.Start(psi) ?? throw new InvalidOperationException("cannot start bash");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(cts.Token);
        var text = await stdout + await stderr;
        output.WriteLine(text);
        return (process.ExitCode, text);
    }

    private static void RequirePromtool()
    {
        if (PrometheusServer.UnavailableReason() is { } reason)
        {
            Skip.If(!Peers.IsCi, reason);
            Assert.Fail("CI=true but " + reason);
        }
    }
}
