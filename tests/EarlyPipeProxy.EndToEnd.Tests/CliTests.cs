using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using EarlyPipeProxy.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace EarlyPipeProxy.EndToEnd.Tests;

/// <summary>
/// The built `earlypipe` binary as an operator runs it: verbs, usage errors (exit 2), configuration and start-up
/// failures (exit 1, one line per problem on stderr, never a stack trace).
/// </summary>
public sealed class CliTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("epp-cli-").FullName;

    [Fact]
    public async Task RunHelp_PrintsHelp_AndDoesNotStartTheProxy()
    {
        var port = Peers.FreePort();
        var config = await WriteConfigAsync($$"""{ "Inbound": [ { "Listen": "127.0.0.1:{{port}}" } ] }""");

        var (exit, stdout, _) = await EarlypipeAsync(["run", "--config", config, "--help"]);

        Assert.Equal(0, exit);
        Assert.Contains("earlypipe run", stdout, StringComparison.Ordinal);
        Assert.Contains("--config", stdout, StringComparison.Ordinal);
        Assert.False(Peers.IsListening(port));
    }

    [Theory]
    [InlineData("run", "--conifg", "x")]
    [InlineData("frobnicate")]
    [InlineData("check")]
    [InlineData("cache")]
    [InlineData("check", "127.0.0.1:25", "--Inbound:0:Name=x")]
    [InlineData("run", "--Inbound:0:Listen", "127.0.0.1:2025")]
    public async Task UsageErrors_ExitTwo_WithTheProblemAndUsageOnStderr(params string[] args)
    {
        var (exit, stdout, stderr) = await EarlypipeAsync(args);

        Assert.Equal(2, exit);
        Assert.StartsWith("earlypipe: ", stderr, StringComparison.Ordinal);
        Assert.Contains("Usage:", stderr, StringComparison.Ordinal);
        Assert.Equal(string.Empty, stdout);
    }

    [Fact]
    public async Task Version_OptionAndVerb_PrintTheSameVersion()
    {
        var option = await EarlypipeAsync(["--version"]);
        var verb = await EarlypipeAsync(["version"]);

        Assert.Equal(0, option.Exit);
        Assert.Equal(0, verb.Exit);
        Assert.Matches(@"^\d+\.\d+\.\d+", option.Out);
        Assert.Equal(option.Out, verb.Out);
    }

    [Fact]
    public async Task Run_MisspelledKey_ExitsOne_WithOneLineNamingKeyAndFile()
    {
        var config = await WriteConfigAsync($$"""
            { "Inbound": [ { "Listen": "127.0.0.1:{{Peers.FreePort()}}", "Backend": { "Adress": "127.0.0.1:25" } } ] }
            """);

        var (exit, _, stderr) = await EarlypipeAsync(["run", "--config", config]);

        Assert.Equal(1, exit);
        Assert.Equal($"earlypipe: {config}: Inbound:0:Backend:Adress: unknown key", SingleLine(stderr));
    }

    [Fact]
    public async Task Run_BadCidr_ExitsOne_WithOneLine()
    {
        var config = await WriteConfigAsync($$"""
            { "Inbound": [ { "Listen": "127.0.0.1:{{Peers.FreePort()}}", "PipeConnect": { "AdvertiseHosts": [ "10.0.0.0/99" ] } } ] }
            """);

        var (exit, _, stderr) = await EarlypipeAsync(["run", "--config", config]);

        Assert.Equal(1, exit);
        Assert.StartsWith($"earlypipe: {config}: Inbound:0:PipeConnect:AdvertiseHosts:0: '10.0.0.0/99'", SingleLine(stderr), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_MissingPem_ExitsOne_WithOneLine()
    {
        var pem = Path.Combine(_dir, "absent.pem");
        var config = await WriteConfigAsync($$"""
            { "Inbound": [ { "Listen": "127.0.0.1:{{Peers.FreePort()}}", "Tls": { "CertificatePath": "{{pem}}" } } ] }
            """);

        var (exit, _, stderr) = await EarlypipeAsync(["run", "--config", config]);

        Assert.Equal(1, exit);
        // Its only listener cannot open: nothing would serve, so the start fails (with another listener it would run).
        Assert.StartsWith($"earlypipe: {config}: Inbound:0:Tls:CertificatePath: certificate {pem} does not load: ", SingleLine(stderr), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_MissingConfigFile_ExitsOne_WithOneLine()
    {
        var config = Path.Combine(_dir, "nowhere.json");

        var (exit, _, stderr) = await EarlypipeAsync(["run", "--config", config]);

        Assert.Equal(1, exit);
        Assert.Equal($"earlypipe: {config}: no such file", SingleLine(stderr));
    }

    [Fact]
    public async Task Run_PortInUse_ExitsOne_WithOneLineNamingTheKey_AndNoStackTrace()
    {
        using var squatter = new TcpListener(IPAddress.Loopback, 0);
        squatter.Start();
        var port = ((IPEndPoint)squatter.LocalEndpoint).Port;
        var config = await WriteConfigAsync($$"""
            { "Inbound": [ { "Name": "first", "Listen": "127.0.0.1:{{Peers.FreePort()}}" }, { "Name": "second", "Listen": "127.0.0.1:{{port}}" } ] }
            """);

        var (exit, stdout, stderr) = await EarlypipeAsync(["run", "--config", config]);

        Assert.Equal(1, exit);
        Assert.Equal($"earlypipe: Inbound:1:Listen 127.0.0.1:{port}: address already in use", SingleLine(stderr));
        Assert.DoesNotContain(" at Microsoft.", stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("Exception", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ConfigCheck_GoodFile_IsOk_BadFile_ListsEveryProblem()
    {
        var good = await WriteConfigAsync("""
            { "Inbound": [ { "Listen": "127.0.0.1:2025", "Timeouts": { "Command": "30s", "Data": "3m", "Session": "1h" } } ], "ShutdownTimeout": "30s" }
            """);
        var bad = await WriteConfigAsync("""
            { "Inbound": [ { "Listen": "127.0.0.1:2025", "Backend": { "Adress": "x" }, "Timeouts": { "Command": "0s" } } ], "ShutdownTimeout": "soon" }
            """);

        var ok = await EarlypipeAsync(["config", "check", "--config", good]);
        var notOk = await EarlypipeAsync(["config", "check", "--config", bad]);

        Assert.Equal(0, ok.Exit);
        Assert.Equal($"{good}: ok", ok.Out.Trim());
        Assert.Equal(1, notOk.Exit);
        Assert.Equal(
            [$"{bad}: Inbound:0:Backend:Adress: unknown key", $"{bad}: ShutdownTimeout: 'soon' is not a duration (30s, 5m, 2h, 7d, 250ms, 1h30m or hh:mm:ss)"],
            notOk.Err.TrimEnd().Split('\n'));
    }

    [Fact]
    public async Task ConfigCheck_FailsOnACertificateThatDoesNotLoad_ThoughRunWouldOpenTheOtherListeners()
    {
        var pem = Path.Combine(_dir, "renewal-went-wrong.pem");
        var config = await WriteConfigAsync($$"""
            { "Inbound": [ { "Name": "smtps", "Listen": "127.0.0.1:2465", "ImplicitTls": true, "Tls": { "CertificatePath": "{{pem}}" } },
                           { "Name": "smtp", "Listen": "127.0.0.1:2025" } ] }
            """);

        var (exit, stdout, stderr) = await EarlypipeAsync(["config", "check", "--config", config]);

        Assert.Equal(1, exit);
        Assert.Equal(string.Empty, stdout.Trim());
        Assert.StartsWith($"{config}: Inbound:0:Tls:CertificatePath: certificate {pem} does not load: ", SingleLine(stderr), StringComparison.Ordinal);
        Assert.EndsWith("(run keeps this listener closed)", SingleLine(stderr), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ConfigShow_ReflectsEnvironmentAndCommandLineOverrides_WithDefaultsFilledIn()
    {
        var config = await WriteConfigAsync("""{ "Inbound": [ { "Name": "file", "Listen": "127.0.0.1:2025", "Timeouts": { "Command": "00:02:00" } } ] }""");

        var (exit, stdout, _) = await EarlypipeAsync(
            ["config", "show", "--config", config, "--Inbound:0:Timeouts:Data=90s"],
            new Dictionary<string, string> { ["EARLYPIPE__Inbound__0__Name"] = "from-env" });

        Assert.Equal(0, exit);
        using var json = JsonDocument.Parse(stdout);
        var inbound = json.RootElement.GetProperty("Inbound")[0];
        Assert.Equal("from-env", inbound.GetProperty("Name").GetString());
        Assert.Equal("2m", inbound.GetProperty("Timeouts").GetProperty("Command").GetString());
        Assert.Equal("90s", inbound.GetProperty("Timeouts").GetProperty("Data").GetString());
        Assert.Equal("10m", inbound.GetProperty("Timeouts").GetProperty("BackendReply").GetString());
        Assert.Equal("30s", json.RootElement.GetProperty("ShutdownTimeout").GetString());
    }

    [Fact]
    public async Task Run_ShortDurations_AreAccepted_AndTheProxyListens()
    {
        var sections = new Dictionary<string, object>
        {
            ["ShutdownTimeout"] = "5s",
            ["Metrics"] = new { ProbeInterval = "250ms", ProbeTimeout = "2s" },
            ["Control"] = new { RequestTimeout = "1s" },
        };

        await using var proxy = await ProxyProcess.StartAsync(
            output, sections, new ListenerSpec("smtp", Peers.FreePort()) { CommandTimeout = TimeSpan.FromSeconds(30) });

        Assert.False(proxy.HasExited);
        Assert.Equal(0, await proxy.StopAsync());
    }

    [Fact]
    public async Task CacheList_ReadsDurationsInItsSections_AsTheProxyDoes()
    {
        var config = await WriteConfigAsync("""
            { "Inbound": [ { "Listen": "127.0.0.1:2025" } ],
              "EhloCache": { "DatabasePath": "cache.db", "Expiry": "7d" }, "Control": { "RequestTimeout": "2s" } }
            """);

        var (exit, stdout, stderr) = await EarlypipeAsync(["cache", "list", "--config", config]);

        Assert.Equal(0, exit);
        Assert.Equal(string.Empty, stderr);
        Assert.DoesNotContain("earlypipe", stdout, StringComparison.Ordinal);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string SingleLine(string text)
    {
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, "expected one line, got:\n" + text);
        return lines[0];
    }

    private async Task<string> WriteConfigAsync(string json)
    {
        var path = Path.Combine(_dir, Guid.NewGuid().ToString("N")[..8] + ".json");
        await File.WriteAllTextAsync(path, json);
        return path;
    }

    private Task<(int Exit, string Out, string Err)> EarlypipeAsync(IReadOnlyList<string> args, IReadOnlyDictionary<string, string>? environment = null) =>
        EarlypipeCommand.RunAsync(output, args, environment, _dir);
}
