using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Xunit.Abstractions;

namespace EarlyPipeProxy.EndToEnd.Tests.Infrastructure;

/// <summary>
/// A real Prometheus (Debian's package) on a loopback port, scraping one target every second, with a config and a
/// storage directory of its own that go away with it. Queried through its HTTP API.
/// </summary>
public sealed class PrometheusServer : IAsyncDisposable
{
    public const string Binary = "/usr/bin/prometheus";
    public const string Promtool = "/usr/bin/promtool";

    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(10) };
    private readonly Process _process;
    private readonly string _dir;
    private readonly ITestOutputHelper _output;
    private readonly List<string> _log = [];

    private PrometheusServer(Process process, string dir, int port, ITestOutputHelper output)
    {
        _process = process;
        _dir = dir;
        Port = port;
        _output = output;
    }

    public int Port { get; }

    /// <summary>null when Prometheus can run here, else why not (tests/peers/install.sh installs it).</summary>
    public static string? UnavailableReason() =>
        File.Exists(Binary) && File.Exists(Promtool) ? null : $"{Binary} or {Promtool} missing; run tests/peers/install.sh as root";

    public static async Task<PrometheusServer> StartAsync(int targetPort, ITestOutputHelper output)
    {
        var dir = Directory.CreateTempSubdirectory("earlypipe-prometheus-").FullName;
        var config = Path.Combine(dir, "prometheus.yml");
        await File.WriteAllTextAsync(config, $"""
            global:
              scrape_interval: 1s
              evaluation_interval: 1s
            scrape_configs:
              - job_name: earlypipe
                static_configs:
                  - targets: ['127.0.0.1:{targetPort}']
            """);
        var port = Peers.FreePort();
        var psi = new ProcessStartInfo(Binary)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = dir,
        };
        foreach (var arg in new[]
        {
            "--config.file=" + config,
            "--storage.tsdb.path=" + Path.Combine(dir, "data"),
            "--web.listen-address=127.0.0.1:" + port.ToString(CultureInfo.InvariantCulture),
            "--web.console.templates=" + dir,
            "--web.console.libraries=" + dir,
        })
        {
            psi.ArgumentList.Add(arg);
        }

        var process = Process.Start(psi) ?? throw new InvalidOperationException("cannot start " + Binary);
        var server = new PrometheusServer(process, dir, port, output);
        process.OutputDataReceived += (_, e) => server.Append(e.Data);
        process.ErrorDataReceived += (_, e) => server.Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await Poll.UntilAsync(() => process.HasExited ? throw new InvalidOperationException("prometheus exited:\n" + server.Log()) : server.IsReady(),
                "prometheus to be ready on port " + port, TimeSpan.FromSeconds(30));
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }

        return server;
    }

    /// <summary>An instant query; the result vector as (labels, value) pairs. Fails the test on a query error.</summary>
    public async Task<IReadOnlyList<(IReadOnlyDictionary<string, string> Labels, double Value)>> QueryAsync(string promQl)
    {
        var url = $"http://127.0.0.1:{Port}/api/v1/query?query={Uri.EscapeDataString(promQl)}";
        using var response = await Http.GetAsync(url);
        var body = await response.Content.ReadAsStringAsync();
        using var json = JsonDocument.Parse(body);
        var root = json.RootElement;
        if (root.GetProperty("status").GetString() != "success")
        {
            throw new InvalidOperationException($"query failed: {promQl}\n{body}");
        }

        var data = root.GetProperty("data");
        var results = new List<(IReadOnlyDictionary<string, string>, double)>();
        if (data.GetProperty("resultType").GetString() == "scalar")
        {
            results.Add((new Dictionary<string, string>(), ParseValue(data.GetProperty("result"))));
            return results;
        }

        foreach (var item in data.GetProperty("result").EnumerateArray())
        {
            var labels = item.GetProperty("metric").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString() ?? "");
            results.Add((labels, ParseValue(item.GetProperty("value"))));
        }

        return results;
    }

    /// <summary>How many scrapes of the target have succeeded so far.</summary>
    public async Task<double> SuccessfulScrapesAsync()
    {
        var result = await QueryAsync("sum_over_time(up{job=\"earlypipe\"}[10m])");
        return result.Count == 0 ? 0 : result[0].Value;
    }

    /// <summary>Waits until the target has been scraped <paramref name="count"/> more times than now.</summary>
    public async Task WaitForScrapesAsync(int count)
    {
        var start = await SuccessfulScrapesAsync();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (await SuccessfulScrapesAsync() < start + count)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"prometheus did not scrape the proxy {count} more times in 30 s:\n{Log()}");
            }

            await Task.Delay(250);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await PeerProcessEnd.KillAsync(_process);
        try
        {
            _output.WriteLine("--- prometheus output (last lines)\n" + string.Join('\n', Log().Split('\n').TakeLast(15)));
        }
        catch (InvalidOperationException)
        {
        }

        Directory.Delete(_dir, recursive: true);
    }

    private static double ParseValue(JsonElement pair) =>
        double.Parse(pair[1].GetString()!, NumberStyles.Float, CultureInfo.InvariantCulture);

    private bool IsReady()
    {
        try
        {
            using var response = Http.GetAsync($"http://127.0.0.1:{Port}/-/ready").GetAwaiter().GetResult();
            return response.IsSuccessStatusCode;
        }
        catch (HttpRequestException)
        {
            return false;
        }
    }

    private void Append(string? line)
    {
        if (line is not null)
        {
            lock (_log)
            {
                _log.Add(line);
            }
        }
    }

    private string Log()
    {
        lock (_log)
        {
            return string.Join('\n', _log);
        }
    }
}
