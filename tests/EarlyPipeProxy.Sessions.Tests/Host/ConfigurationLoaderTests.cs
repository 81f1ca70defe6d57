using EarlyPipeProxy.Host.Cli;
using EarlyPipeProxy.Host.Configuration;

namespace EarlyPipeProxy.Sessions.Tests.Host;

/// <summary>The loader collects every problem of a config, one per line, instead of stopping at the first.</summary>
public sealed class ConfigurationLoaderTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("epp-loader-").FullName;

    [Fact]
    public void Load_SeveralProblems_AreAllReported_EachNamingItsKey()
    {
        var path = Write("""
            { "Inbound": [ { "Name": "edge", "Listen": "127.0.0.1:2025", "Backend": { "Adress": "127.0.0.1:25" },
                "PipeConnect": { "AdvertiseHosts": [ "*", "10.0.0.0/99" ] },
                "Tls": { "CertificatePath": "missing.pem" },
                "Timeouts": { "Data": "0s" } } ],
              "Metrics": { "Listen": "nowhere" }, "ShutdownTimeout": "30s" }
            """);

        var loaded = ConfigurationLoader.Load(path, []);

        Assert.False(loaded.IsValid);
        var keys = loaded.Problems.Select(p => p.Key).ToList();
        Assert.Equal(
            ["Inbound:0:Backend:Adress", "Metrics:Listen", "Inbound:0:PipeConnect:AdvertiseHosts:1", "Inbound:0:Timeouts:Data"],
            keys);
        Assert.All(loaded.Problems, p => Assert.Equal(path, p.Source));
    }

    [Fact]
    public void Load_LoadBalancers_ABadEntryIsNamedByItsKey_AndEveryoneIsRefused()
    {
        var bad = ConfigurationLoader.Load(Write("""
            { "Inbound": [ { "Listen": "127.0.0.1:2025", "AcceptProxyHeaderFrom": [ "10.0.0.0/8", "10.0.0.0/99" ],
                "RequireProxyHeader": false, "Timeouts": { "ProxyHeader": "0s" } } ] }
            """), []);
        var everyone = ConfigurationLoader.Load(Write("""{ "Inbound": [ { "Listen": "127.0.0.1:2025", "AcceptProxyHeaderFrom": [ "*" ] } ] }"""), []);
        var good = ConfigurationLoader.Load(Write("""
            { "Inbound": [ { "Listen": "127.0.0.1:2025", "AcceptProxyHeaderFrom": [ "10.0.0.0/8", "2001:db8::/32" ], "Timeouts": { "ProxyHeader": "2s" } } ] }
            """), []);

        Assert.Equal(["Inbound:0:AcceptProxyHeaderFrom:1", "Inbound:0:Timeouts:ProxyHeader"], bad.Problems.Select(p => p.Key));
        var problem = Assert.Single(everyone.Problems);
        Assert.Contains("AcceptProxyHeaderFrom must name the load balancers, not '*'", problem.Message, StringComparison.Ordinal);
        Assert.True(good.IsValid, string.Join('\n', good.Problems));
        var settings = Assert.Single(good.Inbound).Settings;
        Assert.True(settings.ProxyHeaderFrom!.Contains(System.Net.IPAddress.Parse("10.1.2.3")));
        Assert.False(settings.ProxyHeaderFrom.Contains(System.Net.IPAddress.Parse("192.0.2.1")));
        Assert.Equal(TimeSpan.FromSeconds(2), settings.Options.Timeouts.ProxyHeader);
    }

    [Fact]
    public void Load_CertificateThatDoesNotLoad_ClosesOnlyItsListener_AndIsReportedForItsKey()
    {
        var path = Write("""
            { "Inbound": [ { "Name": "smtps", "Listen": "127.0.0.1:2465", "Tls": { "CertificatePath": "missing.pem" } },
                           { "Name": "smtp", "Listen": "127.0.0.1:2025" } ] }
            """);

        var loaded = ConfigurationLoader.Load(path, []);

        // Not a problem of the configuration (the proxy starts with the other listener), but one `config check` names.
        Assert.True(loaded.IsValid, string.Join('\n', loaded.Problems));
        Assert.True(loaded.CanListen);
        var problem = Assert.Single(loaded.ListenerProblems());
        Assert.Equal("Inbound:0:Tls:CertificatePath", problem.Key);
        Assert.Contains("missing.pem does not load", problem.Message, StringComparison.Ordinal);
        Assert.NotNull(loaded.Inbound[0].Problem);
        Assert.Null(loaded.Inbound[1].Problem);

        var alone = ConfigurationLoader.Load(Write("""{ "Inbound": [ { "Listen": "127.0.0.1:2465", "Tls": { "CertificatePath": "missing.pem" } } ] }"""), []);
        Assert.False(alone.CanListen);
    }

    [Fact]
    public void Load_OverridesWin_AndShortDurationsBind()
    {
        var path = Write("""{ "Inbound": [ { "Listen": "127.0.0.1:2025", "Timeouts": { "Command": "2m", "Session": "1h" } } ], "ShutdownTimeout": "30s" }""");

        var loaded = ConfigurationLoader.Load(path, ["--Inbound:0:Name=from-args", "--ShutdownTimeout=10s"]);

        Assert.True(loaded.IsValid, string.Join('\n', loaded.Problems));
        Assert.Equal("from-args", loaded.Inbound[0].Name);
        Assert.Equal(TimeSpan.FromMinutes(2), loaded.Options.Inbound[0].Timeouts.Command);
        Assert.Equal(TimeSpan.FromSeconds(10), loaded.Options.ShutdownTimeout);
    }

    [Fact]
    public void Load_MissingFile_IsOneProblemNamingThePath()
    {
        var loaded = ConfigurationLoader.Load(Path.Combine(_dir, "nope.json"), []);

        var problem = Assert.Single(loaded.Problems);
        Assert.Equal($"{Path.Combine(_dir, "nope.json")}: no such file", problem.ToString());
    }

    [Fact]
    public void Split_OverridesNeedAColon_SoMistypedOptionsStayOptions()
    {
        var split = ConfigOverrides.Split(["run", "--conifg", "x", "--Inbound:0:Listen=[::]:25", "--ShutdownTimeout=5s", "-c", "f.json"]);

        Assert.Equal(["run", "--conifg", "x", "-c", "f.json"], split.Arguments);
        Assert.Equal(["--Inbound:0:Listen=[::]:25", "--ShutdownTimeout=5s"], split.Overrides);
        Assert.Null(split.Malformed);
        Assert.Equal("--Inbound:0:Listen", ConfigOverrides.Split(["run", "--Inbound:0:Listen", "[::]:25"]).Malformed);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string json)
    {
        var path = Path.Combine(_dir, Guid.NewGuid().ToString("N") + ".json");
        System.IO.File.WriteAllText(path, json);
        return path;
    }
}
