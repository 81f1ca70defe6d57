using System.Diagnostics;
using EarlyPipeProxy.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace EarlyPipeProxy.EndToEnd.Tests;

/// <summary>
/// The test command is safe on an operator's workstation: tests/peers/install.sh never stops, removes or replaces the
/// machine's own MTA or services, and tests/run-all.sh gives what it wrote as root into a user's checkout back to that
/// user. install.sh's decisions are run for real in its --dry-run mode against a fake apt-get and dpkg-query, which
/// play a machine with or without another MTA.
/// </summary>
public sealed class TestCommandSafetyTests(ITestOutputHelper output)
{
    private static string Root => RepositoryRoot.Find();

    [Fact]
    public void Install_script_has_no_command_that_stops_removes_or_reconfigures_a_system_service()
    {
        var script = File.ReadAllText(Path.Combine(Root, "tests", "peers", "install.sh"));
        var code = string.Join('\n', script.Split('\n').Where(l => !l.TrimStart().StartsWith('#')));
        foreach (var forbidden in new[]
        {
            "postfix stop", "postfix -c /etc/postfix", "systemctl", "service postfix", "invoke-rc.d", "/etc/init.d/",
            "apt-get remove", "apt-get purge", "apt-get autoremove", "dpkg -r", "dpkg --remove", "dpkg -P", "kill ",
            "pkill", "killall", "dpkg-reconfigure", "postconf -e",
        })
        {
            Assert.DoesNotContain(forbidden, code, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Dry_run_on_a_machine_with_another_MTA_plans_no_postfix_install_and_records_why()
    {
        var (code, text, stateDir) = await DryRunAsync(otherMta: "exim4-daemon-light");
        Assert.Equal(0, code);
        Assert.Contains("installing it would remove exim4-daemon-light", text, StringComparison.Ordinal);
        Assert.Contains("would write " + Path.Combine(stateDir, "postfix-unavailable"), text, StringComparison.Ordinal);
        Assert.DoesNotContain("apt-get install -y --no-install-recommends postfix", text, StringComparison.Ordinal);
        Assert.DoesNotContain("debconf-set-selections", text, StringComparison.Ordinal);
        Assert.Contains("dry-run: done, nothing changed", text, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(stateDir, "postfix-unavailable")), "a dry run wrote a file");
    }

    [Fact]
    public async Task Dry_run_on_a_machine_without_an_MTA_plans_the_postfix_install_with_its_service_held()
    {
        var (code, text, _) = await DryRunAsync(otherMta: null);
        Assert.Equal(0, code);
        Assert.Contains("would run: apt-get install -y --no-install-recommends postfix", text, StringComparison.Ordinal);
        Assert.Contains("No configuration", text, StringComparison.Ordinal);
        Assert.DoesNotContain("would remove", text, StringComparison.Ordinal);
        if (!File.Exists("/usr/sbin/policy-rc.d"))
        {
            // no policy of the operator's: the install is wrapped in one that starts no service, removed afterwards
            var hold = text.IndexOf("/usr/sbin/policy-rc.d", StringComparison.Ordinal);
            var install = text.IndexOf("apt-get install -y --no-install-recommends postfix", StringComparison.Ordinal);
            var release = text.IndexOf("rm -f /usr/sbin/policy-rc.d", StringComparison.Ordinal);
            Assert.True(hold >= 0 && hold < install && install < release, text);
        }
    }

    [Fact]
    public async Task Another_package_whose_install_would_remove_one_is_refused_not_installed()
    {
        // postfix is there, but a tool's installation would remove a package: install.sh stops with the reason
        var (code, text, _) = await DryRunAsync(otherMta: "mailutils", postfixInstalled: true, everyInstallRemoves: true);
        Assert.NotEqual(0, code);
        Assert.Contains("would remove mailutils; not done", text, StringComparison.Ordinal);
        Assert.DoesNotContain("would run: apt-get install", text, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Restore_owner_gives_root_owned_files_in_a_users_checkout_back_to_that_user()
    {
        Skip.If(Environment.UserName != "root" && !Peers.IsCi, "needs root (it chowns files); runs under sudo tests/run-all.sh");
        var checkout = Directory.CreateTempSubdirectory("earlypipe-owner-").FullName;
        var outside = Path.Combine(Path.GetTempPath(), "earlypipe-owner-target-" + Guid.NewGuid().ToString("N"));
        try
        {
            await File.WriteAllTextAsync(outside, "root's own file, reached through a symlink: must stay root's");
            Directory.CreateDirectory(Path.Combine(checkout, "src", "bin", "Release"));
            await File.WriteAllTextAsync(Path.Combine(checkout, "src", "bin", "Release", "x.dll"), "built as root");
            await File.WriteAllTextAsync(Path.Combine(checkout, "TestResults.trx"), "written as root");
            File.CreateSymbolicLink(Path.Combine(checkout, "link"), outside);
            Assert.Equal(0, (await RunAsync("chown", ["nobody:nogroup", checkout])).Code);

            var (code, text) = await RunAsync("bash", [Path.Combine(Root, "tests", "restore-owner.sh"), checkout]);
            Assert.True(code == 0, text);

            var rootOwned = await RunAsync("find", [checkout, "-uid", "0"]);
            Assert.True(rootOwned.Output.Trim().Length == 0, "still root's:\n" + rootOwned.Output);
            var nobodys = await RunAsync("find", [checkout, "-user", "nobody"]);
            Assert.Equal(7, nobodys.Output.Trim().Split('\n').Length); // the checkout, src, bin, Release, x.dll, trx, link
            Assert.Equal("0", (await RunAsync("stat", ["-c", "%u", outside])).Output.Trim());
        }
        finally
        {
            Directory.Delete(checkout, recursive: true);
            File.Delete(outside);
        }
    }

    /// <summary>
    /// install.sh --dry-run with fake apt-get and dpkg-query first in PATH: postfix is not installed (unless said), and
    /// apt's simulation of installing it (or, with everyInstallRemoves, anything) removes <paramref name="otherMta"/>.
    /// </summary>
    private async Task<(int Code, string Output, string StateDir)> DryRunAsync(string? otherMta, bool postfixInstalled = false, bool everyInstallRemoves = false)
    {
        var fakeBin = Directory.CreateTempSubdirectory("earlypipe-fakeapt-").FullName;
        var stateDir = Path.Combine(fakeBin, "peers");
        try
        {
            var remv = otherMta is null ? string.Empty : $"echo 'Remv {otherMta} [1.0]'";
            var removesFor = everyInstallRemoves ? "*" : "*postfix*";
            await WriteExecutableAsync(Path.Combine(fakeBin, "apt-get"), $$"""
                #!/bin/bash
                # fake apt-get: simulations only; anything else is a bug of install.sh's dry run
                case " $* " in
                  *" -s "*) echo "Reading package lists..."; case " $* " in {{removesFor}}) {{remv}} ;; esac; echo "Inst $* (fake)";;
                  *) echo "fake apt-get: not a simulation: $*" >&2; exit 99;;
                esac
                """);
            await WriteExecutableAsync(Path.Combine(fakeBin, "dpkg-query"), $$"""
                #!/bin/bash
                # fake dpkg-query -W -f=... PKG: postfix {{(postfixInstalled ? "installed" : "missing")}}, tools missing, the rest installed
                pkg=${!#}
                case $pkg in
                  postfix) {{(postfixInstalled ? "printf 'install ok installed'" : "exit 1")}};;
                  tcpdump|swaks) exit 1;;
                  *) printf 'install ok installed';;
                esac
                """);
            var env = new Dictionary<string, string>
            {
                ["PATH"] = fakeBin + ":/usr/sbin:/usr/bin:/sbin:/bin",
                ["PEERS_DIR"] = stateDir,
            };
            var (code, text) = await RunAsync("bash", [Path.Combine(Root, "tests", "peers", "install.sh"), "--dry-run"], env);
            return (code, text, stateDir);
        }
        finally
        {
            Directory.Delete(fakeBin, recursive: true);
        }
    }

    private static async Task WriteExecutableAsync(string path, string content)
    {
        await File.WriteAllTextAsync(path, content.Replace("\r\n", "\n", StringComparison.Ordinal) + "\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
                | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        }
    }

    private async Task<(int Code, string Output)> RunAsync(string file, IEnumerable<string> args, IReadOnlyDictionary<string, string>? env = null)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        if (env is not null)
        {
            foreach (var (k, v) in env)
            {
                psi.Environment[k] = v;
            }
        }

        using var process = Process.Start(psi) ?? throw new InvalidOperationException("cannot start " + file);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        await process.WaitForExitAsync(cts.Token);
        var text = await stdout + await stderr;
        output.WriteLine($"$ {file} {string.Join(' ', psi.ArgumentList)}\n{text}");
        return (process.ExitCode, text);
    }
}
