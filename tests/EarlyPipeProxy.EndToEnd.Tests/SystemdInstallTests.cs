using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;
using EarlyPipeProxy.EndToEnd.Tests.Infrastructure;
using EarlyPipeProxy.Host.Control;
using EarlyPipeProxy.Host.Hosting;
using Microsoft.Extensions.Configuration;
using Xunit.Abstractions;

namespace EarlyPipeProxy.EndToEnd.Tests;

/// <summary>
/// deploy/install.sh staged into a temporary root (DESTDIR): the tree it lays out, the unit as systemd reads it, the
/// installed command and configuration. Staging needs no root (no user is created, nothing chowned, no systemctl), so
/// this runs as any user; it needs the .NET SDK (the script publishes) and systemd-analyze. What is not checked here:
/// the service actually running under systemd (no systemd runs on the test machines), and the steps the script takes
/// only without DESTDIR (useradd, chown, daemon-reload). In the end-to-end collection because it builds the host
/// in-process, which reads EARLYPIPE__ variables that HostConfigurationTests sets.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed partial class SystemdInstallTests(ITestOutputHelper output) : IDisposable
{
    private const string SystemdAnalyze = "/usr/bin/systemd-analyze";
    private readonly string _root = Directory.CreateTempSubdirectory("earlypipe-destdir-").FullName;

    [SkippableFact]
    public async Task InstallScript_StagesAServiceThatSystemdAccepts_WithAConfigPointingAtVarLib()
    {
        RequirePrerequisites();
        var repo = RepositoryRoot.Find();

        var install = await RunAsync("bash", [Path.Combine(repo, "deploy", "install.sh"), "--destdir", _root], TimeSpan.FromMinutes(15));
        Assert.True(install.ExitCode == 0, install.ToString());

        // The tree.
        var unitPath = Staged("/etc/systemd/system/earlypipe.service");
        var configPath = Staged("/etc/earlypipe/earlypipe.json");
        var command = Staged("/usr/bin/earlypipe");
        Assert.True(File.Exists(Staged("/usr/lib/earlypipe/earlypipe.dll")));
        Assert.True(IsExecutable(Staged("/usr/lib/earlypipe/earlypipe")), "the published apphost");
        Assert.True(IsExecutable(command), "/usr/bin/earlypipe");
        Assert.True(File.Exists(configPath));
        Assert.True(File.Exists(unitPath));
        Assert.True(Directory.Exists(Staged("/var/lib/earlypipe")));
        Assert.True(File.Exists(Staged("/usr/share/doc/earlypipe/README.md")));
        Assert.Matches("^u earlypipe - .* /var/lib/earlypipe ", await File.ReadAllTextAsync(Staged("/usr/lib/sysusers.d/earlypipe.conf")));

        // The installed configuration is valid and keeps its state where StateDirectory= makes it writable: its paths
        // are taken relative to /etc/earlypipe, so the repository's "../var/..." would have meant /etc/var.
        var settings = new ConfigurationBuilder().AddJsonFile(configPath).Build();
        Assert.Equal("/var/lib/earlypipe/ehlo-cache.db", EhloCacheRegistration.ReadOptions(settings, "/etc/earlypipe/earlypipe.json").DatabasePath);
        Assert.Equal("/var/lib/earlypipe/control.sock", ControlServerRegistration.ReadOptions(settings, "/etc/earlypipe/earlypipe.json").SocketPath);
        await using (ProxyHost.Build(configPath, []))
        {
            // Built (listeners, limits, timeouts parsed) but never started: nothing binds, nothing is written.
        }

        // The unit's numbers against the installed configuration's.
        var unit = await File.ReadAllLinesAsync(unitPath);
        Assert.Equal("notify", Single(unit, "Type"));
        Assert.Equal("earlypipe", Single(unit, "User"));
        Assert.Equal("/usr/bin/earlypipe run --config /etc/earlypipe/earlypipe.json", Single(unit, "ExecStart"));
        Assert.Equal("/bin/kill -HUP $MAINPID", Single(unit, "ExecReload"));
        Assert.Equal("earlypipe", Single(unit, "StateDirectory"));
        Assert.Equal("CAP_NET_BIND_SERVICE", Single(unit, "AmbientCapabilities"));
        Assert.Empty(Values(unit, "MemoryDenyWriteExecute"));
        using var config = JsonDocument.Parse(await File.ReadAllTextAsync(configPath));
        var shutdownTimeout = EarlyPipeProxy.Host.Configuration.Duration.Parse(config.RootElement.GetProperty("ShutdownTimeout").GetString()!);
        var stopTimeout = TimeSpan.FromSeconds(int.Parse(SecondsPattern().Match(Single(unit, "TimeoutStopSec")).Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(stopTimeout > shutdownTimeout, $"TimeoutStopSec {stopTimeout} must outlast ShutdownTimeout {shutdownTimeout}");
        var maxConnections = config.RootElement.GetProperty("Inbound").EnumerateArray().Sum(l => l.GetProperty("Limits").GetProperty("MaxConnections").GetInt32());
        Assert.True(int.Parse(Single(unit, "LimitNOFILE"), System.Globalization.CultureInfo.InvariantCulture) >= 2 * maxConnections);

        // systemd-analyze verify on the installed unit. It requires ExecStart's program to exist on this machine, where
        // the command is staged under the temporary root, not in /usr/bin: the copy verified differs from the installed
        // unit in that one path only. Everything else is checked as systemd would load it: every key known and parsed
        // (unknown ones and bad values are only warnings, so any output fails the test), /bin/kill, the targets.
        var verified = Path.Combine(_root, "verify", "earlypipe.service");
        Directory.CreateDirectory(Path.GetDirectoryName(verified)!);
        await File.WriteAllLinesAsync(verified, unit.Select(l => l.StartsWith("ExecStart=/usr/bin/earlypipe ", StringComparison.Ordinal)
            ? "ExecStart=" + command + l["ExecStart=/usr/bin/earlypipe".Length..]
            : l));
        var verify = await RunAsync(SystemdAnalyze, ["verify", verified], TimeSpan.FromMinutes(2));
        Assert.True(verify.ExitCode == 0 && verify.Stdout.Length + verify.Stderr.Length == 0, verify.ToString());

        // The installed command, as systemd runs it: a bare environment (no DOTNET_ROOT, systemd's PATH). It execs
        // /usr/lib/earlypipe/earlypipe, which is staged under the root here: run a copy with that path moved there.
        var wrapper = await File.ReadAllTextAsync(command);
        Assert.Contains("exec /usr/lib/earlypipe/earlypipe \"$@\"", wrapper, StringComparison.Ordinal);
        var stagedWrapper = Path.Combine(_root, "verify", "earlypipe");
        await File.WriteAllTextAsync(stagedWrapper, wrapper.Replace("exec /usr/lib/earlypipe/", $"exec {_root}/usr/lib/earlypipe/", StringComparison.Ordinal));
#pragma warning disable CA1416 // Linux only: checked at the top (RequirePrerequisites).
        File.SetUnixFileMode(stagedWrapper, UnixFileMode.UserRead | UnixFileMode.UserExecute);
#pragma warning restore CA1416
        // The installed configuration checks as the installed command reads it, without opening a port.
        var check = await RunAsync(stagedWrapper, ["config", "check", "--config", configPath], TimeSpan.FromMinutes(1), bareEnvironment: true);
        Assert.True(check.ExitCode == 0, check.ToString());
        Assert.Contains(configPath + ": ok", check.Stdout, StringComparison.Ordinal);
        var version = await RunAsync(stagedWrapper, ["--version"], TimeSpan.FromMinutes(1), bareEnvironment: true);
        Assert.True(version.ExitCode == 0 && version.Stdout.Trim().Length > 0, version.ToString());

        // Again over the same root: the operator's configuration stays as it is, the application is replaced whole.
        var edited = (await File.ReadAllTextAsync(configPath)).Replace("\"ShutdownTimeout\": \"30s\"", "\"ShutdownTimeout\": \"20s\"", StringComparison.Ordinal);
        Assert.Contains("\"20s\"", edited, StringComparison.Ordinal);
        await File.WriteAllTextAsync(configPath, edited);
        var stale = Staged("/usr/lib/earlypipe/left-from-an-older-version.dll");
        await File.WriteAllTextAsync(stale, "stale");

        var again = await RunAsync("bash", [Path.Combine(repo, "deploy", "install.sh"), "--destdir", _root], TimeSpan.FromMinutes(15));

        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.Contains("kept the existing /etc/earlypipe/earlypipe.json", again.Stdout, StringComparison.Ordinal);
        Assert.Equal(edited, await File.ReadAllTextAsync(configPath));
        Assert.False(File.Exists(stale), "a file of the previous installation was left in /usr/lib/earlypipe");
        Assert.True(File.Exists(Staged("/usr/lib/earlypipe/earlypipe.dll")));
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private string Staged(string path) => _root + path;

    /// <summary>Skips without the SDK or systemd-analyze, except under CI=true, where they must be there.</summary>
    private static void RequirePrerequisites()
    {
        string? reason = null;
        if (!OperatingSystem.IsLinux())
        {
            reason = "systemd units are Linux only";
        }
        else if (!File.Exists(SystemdAnalyze))
        {
            reason = SystemdAnalyze + " not installed (apt-get install systemd)";
        }

        if (reason is not null && Peers.IsCi)
        {
            throw new InvalidOperationException("CI=true but the install test cannot run: " + reason);
        }

        Skip.If(reason is not null, reason);
    }

    private static bool IsExecutable(string path) =>
        OperatingSystem.IsLinux() && File.Exists(path) && (File.GetUnixFileMode(path) & UnixFileMode.UserExecute) != 0;

    /// <summary>The values of a key in a unit file, in order ("Key=value" lines; comments skipped).</summary>
    private static List<string> Values(IEnumerable<string> unit, string key) =>
        unit.Where(l => l.StartsWith(key + "=", StringComparison.Ordinal)).Select(l => l[(key.Length + 1)..].Trim()).ToList();

    private static string Single(IEnumerable<string> unit, string key) => Assert.Single(Values(unit, key));

    private async Task<ScriptResult> RunAsync(string program, IEnumerable<string> args, TimeSpan timeout, bool bareEnvironment = false)
    {
        var psi = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in args)
        {
            psi.ArgumentList.Add(arg);
        }

        if (bareEnvironment)
        {
            psi.Environment.Clear();
            psi.Environment["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
        }

        using var process = Process.Start(psi) ?? throw new InvalidOperationException("cannot start " + program);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var limit = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} {string.Join(' ', args)} did not finish within {timeout}");
        }

        var result = new ScriptResult(process.ExitCode, await stdout, await stderr);
        output.WriteLine($"$ {program} {string.Join(' ', psi.ArgumentList)}\n{result}");
        return result;
    }

    [GeneratedRegex(@"^(\d+)s$")]
    private static partial Regex SecondsPattern();
}
