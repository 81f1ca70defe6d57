using EarlyPipeProxy.Host.Configuration;
using EarlyPipeProxy.Host.Hosting;
using EarlyPipeProxy.Sessions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace EarlyPipeProxy.EndToEnd.Tests;

/// <summary>The host's configuration sources: the JSON file, then EARLYPIPE__ environment variables, then --Key=value arguments.</summary>
/// <remarks>Alone (<see cref="Infrastructure.ProcessEnvironmentWriters"/>): no other test's process may start while this sets process environment variables.</remarks>
[Collection(Infrastructure.ProcessEnvironmentWriters.Name)]
public sealed class HostConfigurationTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("epp-config-").FullName;

    [Fact]
    public async Task Build_EnvironmentAndCommandLine_OverrideTheFileInThatOrder()
    {
        // Arrange
        var config = Path.Combine(_dir, "earlypipe.json");
        await File.WriteAllTextAsync(config, """
            { "Inbound": [ { "Name": "file", "Listen": "127.0.0.1:20001",
                "Backend": { "Address": "127.0.0.1:20002", "ClientIdentity": "Xclient" },
                "PipeConnect": { "AdvertiseHosts": [ "192.0.2.0/24" ] } } ] }
            """);
        Environment.SetEnvironmentVariable("EARLYPIPE__Inbound__0__Backend__Address", "127.0.0.1:20003");
        Environment.SetEnvironmentVariable("EARLYPIPE__Inbound__0__Name", "from-env");
        try
        {
            // Act
            await using var app = ProxyHost.Build(config, ["--Inbound:0:Name=from-args", "--Inbound:0:Backend:ClientIdentity=ProxyV2"]);
            var listener = Assert.Single(app.Services.GetRequiredService<IReadOnlyList<InboundListener>>());

            // Assert
            Assert.Equal("from-args", listener.Name);
            Assert.Equal("127.0.0.1:20003", listener.BackendEndPoint.ToString());
            Assert.Equal(ClientIdentityMode.ProxyV2, listener.Options.Backend.ClientIdentity);
            Assert.True(listener.AdvertiseHosts.Contains(System.Net.IPAddress.Parse("192.0.2.7")));
            Assert.False(listener.AdvertiseHosts.Contains(System.Net.IPAddress.Parse("127.0.0.1")), "the default '*' must not be merged into a configured list");
        }
        finally
        {
            Environment.SetEnvironmentVariable("EARLYPIPE__Inbound__0__Backend__Address", null);
            Environment.SetEnvironmentVariable("EARLYPIPE__Inbound__0__Name", null);
        }
    }

    [Fact]
    public async Task Build_ShippedDefaultConfig_IsValidAndFrontsLocalPostfixWithXclient()
    {
        var shipped = Path.Combine(RepoRoot(), "config", "earlypipe.json");

        await using var app = ProxyHost.Build(shipped, []);
        var listener = Assert.Single(app.Services.GetRequiredService<IReadOnlyList<InboundListener>>());

        Assert.Equal(ClientIdentityMode.Xclient, listener.Options.Backend.ClientIdentity);
        Assert.Equal("127.0.0.1:25", listener.BackendEndPoint.ToString());
    }

    [Fact]
    public void Build_BadCidr_FailsAtStartNamingTheKeyAndFile()
    {
        var config = Path.Combine(_dir, "bad.json");
        File.WriteAllText(config, """{ "Inbound": [ { "Name": "edge", "PipeConnect": { "AdvertiseHosts": [ "10.0.0.0/99" ] } } ] }""");

        var error = Assert.Throws<ConfigurationProblemsException>(() => ProxyHost.Build(config, []));

        var problem = Assert.Single(error.Problems);
        Assert.Equal(config, problem.Source);
        Assert.Equal("Inbound:0:PipeConnect:AdvertiseHosts:0", problem.Key);
        Assert.Contains("10.0.0.0/99", problem.Message, StringComparison.Ordinal);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "EarlyPipeProxy.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("EarlyPipeProxy.sln not found");
    }
}
