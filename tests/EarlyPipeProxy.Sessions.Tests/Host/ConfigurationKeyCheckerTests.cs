using EarlyPipeProxy.Host.Configuration;
using Microsoft.Extensions.Configuration;

namespace EarlyPipeProxy.Sessions.Tests.Host;

/// <summary>Keys the binder would silently ignore, and values it could not convert, named with their key and source.</summary>
[Collection(ProcessEnvironmentWriters.Name)]
public sealed class ConfigurationKeyCheckerTests
{
    private const string File = "config/earlypipe.json";

    [Fact]
    public void UnknownKeys_MisspelledKeyInAListEntry_IsNamedWithItsPathAndFile()
    {
        var configuration = Memory(new()
        {
            ["Inbound:0:Name"] = "smtp",
            ["Inbound:0:Backend:Adress"] = "127.0.0.1:25",
            ["Inbound:0:PipeConnect:AdvertiseHosts:0"] = "*",
            ["Outbound:1:Tls:Mode"] = "None",
            ["ShutdownTimeout"] = "30s",
        });

        var problem = Assert.Single(UnknownKeys(configuration));

        Assert.Equal("config/earlypipe.json: Inbound:0:Backend:Adress: unknown key", problem.ToString());
    }

    [Fact]
    public void UnknownKeys_OtherSectionsAreKnown_LoggingIsFreeForm_AndTheirTyposAreNot()
    {
        var configuration = Memory(new()
        {
            ["EhloCache:DatabasePath"] = "cache.db",
            ["EhloCache:Expiry"] = "7d",
            ["Control:SocketPath"] = "control.sock",
            ["Metrics:Listen"] = "127.0.0.1:9325",
            ["Metrics:ProbeIntervall"] = "30s",
            ["Logging:LogLevel:Microsoft.Hosting.Lifetime"] = "Information",
            ["Logging:Console:FormatterName"] = "simple",
            ["Inbound:first:Name"] = "smtp",
            ["ShutdownTimeout:Seconds"] = "30",
            ["Nonsense"] = "1",
        });

        var keys = UnknownKeys(configuration).Select(p => p.Key).Order(StringComparer.Ordinal);

        Assert.Equal(["Inbound:first", "Metrics:ProbeIntervall", "Nonsense", "ShutdownTimeout:Seconds"], keys);
    }

    [Fact]
    public void UnknownKeys_FromEnvironmentAndCommandLine_NameWhereTheyCameFrom()
    {
        const string Variable = "EARLYPIPE__Inbound__0__KeyCheckerTestBogus";
        Environment.SetEnvironmentVariable(Variable, "1");
        try
        {
            var configuration = new ConfigurationBuilder()
                .AddEnvironmentVariables("EARLYPIPE__")
                .AddCommandLine(["--Outbound:0:Limts:MaxConnections=5", "--Inbound:0:Name=ok"])
                .Build();

            var problems = UnknownKeys(configuration).Select(p => p.ToString()).ToList();

            Assert.Contains("environment EARLYPIPE__Inbound__0__KeyCheckerTestBogus: Inbound:0:KeyCheckerTestBogus: unknown key", problems);
            Assert.Contains("command line --Outbound:0:Limts: Outbound:0:Limts: unknown key", problems);
            Assert.Equal(2, problems.Count);
        }
        finally
        {
            Environment.SetEnvironmentVariable(Variable, null);
        }
    }

    [Fact]
    public void BadValues_EachUnconvertibleValueIsNamed_WithWhatItShouldBe()
    {
        DurationConverter.Register();
        var configuration = Memory(new()
        {
            ["Inbound:0:Limits:MaxConnections"] = "lots",
            ["Inbound:0:Timeouts:Command"] = "5x",
            ["Inbound:0:Backend:ClientIdentity"] = "Xclien",
            ["Inbound:0:ImplicitTls"] = "yes",
            ["Inbound:0:Timeouts:Data"] = "3m",
            ["Inbound:0:Backend:Tls"] = "starttls",
            ["Inbound:0:Limits"] = null,
            ["Outbound:0:AllowedSenders"] = "10.0.0.0/8",
        });

        var problems = ConfigurationKeyChecker.BadValues(configuration, typeof(EarlyPipeOptions), ConfigurationLoader.OtherSections, File)
            .ToDictionary(p => p.Key, p => p.Message);

        Assert.Equal(5, problems.Count);
        Assert.Equal("'lots' is not a whole number", problems["Inbound:0:Limits:MaxConnections"]);
        Assert.StartsWith("'5x' is not a duration (30s, 5m", problems["Inbound:0:Timeouts:Command"], StringComparison.Ordinal);
        Assert.StartsWith("'Xclien' is not one of ", problems["Inbound:0:Backend:ClientIdentity"], StringComparison.Ordinal);
        Assert.Equal("'yes' is not true or false", problems["Inbound:0:ImplicitTls"]);
        Assert.Equal("'10.0.0.0/8' is a value where a list belongs", problems["Outbound:0:AllowedSenders"]);
    }

    private static IConfigurationRoot Memory(Dictionary<string, string?> values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values).Build();

    private static IReadOnlyList<ConfigurationProblem> UnknownKeys(IConfigurationRoot configuration) =>
        ConfigurationKeyChecker.UnknownKeys(configuration, typeof(EarlyPipeOptions), ConfigurationLoader.OtherSections, File);
}
