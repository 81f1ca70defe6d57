using System.Globalization;
using System.Text;
using EarlyPipeProxy.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace EarlyPipeProxy.EndToEnd.Tests;

/// <summary>
/// OriginalDestination.TryGet against a real iptables REDIRECT, the way a legacy sender's port-25 traffic reaches the
/// outbound proxy. Each test makes its own network namespace (only loopback, so nothing leaves it), installs the NAT
/// rule there, and runs EarlyPipeProxy.OriginalDestinationProbe in it on port 2999: the probe accepts connections and
/// writes back what TryGet found, so each client made with bash's /dev/tcp reads the answer for its own connection.
/// Needs root and iptables (tests/peers/install.sh installs it); skips without them, except with CI=true.
/// </summary>
public sealed class OriginalDestinationTests(ITestOutputHelper output)
{
    private const int ProbePort = 2999;
    private static readonly TimeSpan StepLimit = TimeSpan.FromSeconds(30);

    [SkippableFact]
    public async Task A_REDIRECTed_IPv4_connection_reports_its_original_destination_and_a_direct_one_does_not()
    {
        Require();
        await using var ns = await NetworkNamespace.CreateAsync("epp-odst");
        await AddRedirectAsync(ns, "iptables", "127.0.0.5");

        await RunProbeAsync(ns, "127.0.0.1", 2, async () =>
        {
            Assert.Equal("original 127.0.0.5:25", await ConnectAsync(ns, "127.0.0.5", 25));
            // Conntrack now tracks every connection in the namespace; this one it reports as going to the probe itself.
            Assert.Equal("not-redirected", await ConnectAsync(ns, "127.0.0.1", ProbePort));
        });
    }

    [SkippableFact]
    public async Task A_dual_mode_listener_gets_the_original_destination_of_IPv4_and_IPv6_REDIRECTs()
    {
        Require();
        await using var ns = await NetworkNamespace.CreateAsync("epp-odst");
        await AddRedirectAsync(ns, "iptables", "127.0.0.5");
        await AddRedirectAsync(ns, "ip6tables", "::1");

        // "::" makes the probe listen dual-mode: IPv4 connections arrive with IPv4-mapped addresses, and the lookup
        // must still be the IPv4 one and answer with a plain IPv4 address.
        await RunProbeAsync(ns, "::", 4, async () =>
        {
            Assert.Equal("original 127.0.0.5:25", await ConnectAsync(ns, "127.0.0.5", 25));
            Assert.Equal("original [::1]:25", await ConnectAsync(ns, "::1", 25));
            Assert.Equal("not-redirected", await ConnectAsync(ns, "::1", ProbePort));
            Assert.Equal("not-redirected", await ConnectAsync(ns, "127.0.0.1", ProbePort));
        });
    }

    /// <summary>
    /// REDIRECT in the nat OUTPUT chain: connections made inside the namespace to <paramref name="destination"/>:25 go
    /// to the probe's port on loopback instead. Skips (fails under CI=true) when the kernel has no NAT for it.
    /// </summary>
    private async Task AddRedirectAsync(NetworkNamespace ns, string iptables, string destination)
    {
        string[] rule = [iptables, "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-d", destination, "--dport", "25",
            "-j", "REDIRECT", "--to-ports", ProbePort.ToString(CultureInfo.InvariantCulture)];
        var result = await ns.ExecAsync(rule);
        output.WriteLine($"{string.Join(' ', rule)}: {result}");
        if (result.ExitCode != 0)
        {
            SkipOrFail($"`{string.Join(' ', rule)}` failed in a network namespace (no NAT in this kernel?): {result}");
        }
    }

    /// <summary>
    /// Runs the probe in the namespace while <paramref name="clients"/> makes its <paramref name="connections"/>
    /// connections; the probe must then have exited by itself, having seen exactly those.
    /// </summary>
    private async Task RunProbeAsync(NetworkNamespace ns, string listenAddress, int connections, Func<Task> clients)
    {
        var probeDll = Path.Combine(AppContext.BaseDirectory, "EarlyPipeProxy.OriginalDestinationProbe.dll");
        Assert.True(File.Exists(probeDll), $"{probeDll} is missing");
        var dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet";

        var listening = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var log = new StringBuilder();
        using var probe = ns.Start([dotnet, probeDll, listenAddress, ProbePort.ToString(CultureInfo.InvariantCulture),
            connections.ToString(CultureInfo.InvariantCulture)]);
        var stderr = probe.StandardError.ReadToEndAsync();
        var stdout = Task.Run(async () =>
        {
            while (await probe.StandardOutput.ReadLineAsync() is { } line)
            {
                lock (log)
                {
                    log.AppendLine(line);
                }

                if (line.StartsWith("listening", StringComparison.Ordinal))
                {
                    listening.TrySetResult();
                }
            }

            listening.TrySetResult();
        });

        try
        {
            await listening.Task.WaitAsync(StepLimit);
            if (probe.HasExited)
            {
                // Only now: stderr completes when the probe exits, so awaiting it earlier would wait for ever.
                Assert.Fail($"the probe exited before listening: {await stderr.WaitAsync(StepLimit)}");
            }

            await clients();
            await probe.WaitForExitAsync().WaitAsync(StepLimit);
            Assert.Equal(0, probe.ExitCode);
        }
        finally
        {
            // A client that failed leaves the probe waiting for its remaining connections; it must not outlive the
            // namespace (which the kernel would then keep alive after `ip netns del`).
            if (!probe.HasExited)
            {
                probe.Kill(entireProcessTree: true);
            }

            await probe.WaitForExitAsync().WaitAsync(StepLimit);
            await stdout.WaitAsync(StepLimit);
            lock (log)
            {
                output.WriteLine("--- probe stdout\n" + log);
            }

            output.WriteLine("--- probe stderr\n" + await stderr.WaitAsync(StepLimit));
        }
    }

    /// <summary>Connects from inside the namespace and returns the line the probe wrote back.</summary>
    private async Task<string> ConnectAsync(NetworkNamespace ns, string host, int port)
    {
        // bash's /dev/tcp resolves with getaddrinfo, so "::1" works as well as "127.0.0.5".
        var result = await ns.ExecAsync(
            ["timeout", "10", "bash", "-c", "exec 3<>/dev/tcp/$0/$1 && cat <&3", host, port.ToString(CultureInfo.InvariantCulture)]);
        output.WriteLine($"connect {host} {port}: {result}");
        Assert.True(result.ExitCode == 0, $"connecting to {host} port {port} in {ns.Name} failed: {result}");
        return result.Stdout.Trim();
    }

    /// <summary>Skips without Linux, root, `ip netns` or iptables, except with CI=true, where those are failures.</summary>
    internal static void Require()
    {
        if (WhyNotRunnable() is { } reason)
        {
            SkipOrFail(reason);
        }
    }

    private static void SkipOrFail(string reason)
    {
        if (Peers.IsCi)
        {
            Assert.Fail("CI=true, so the SO_ORIGINAL_DST test must run, but: " + reason);
        }

        Skip.If(true, reason);
    }

    private static string? WhyNotRunnable()
    {
        if (!OperatingSystem.IsLinux())
        {
            return "SO_ORIGINAL_DST and iptables REDIRECT are Linux only";
        }

        if (!Environment.IsPrivilegedProcess)
        {
            return "the SO_ORIGINAL_DST test needs root (network namespaces, iptables); run `sudo dotnet test` or set CI=true on a root runner";
        }

        foreach (var tool in (string[])["ip", "iptables", "ip6tables"])
        {
            if (!OnPath(tool))
            {
                return $"`{tool}` is not installed; run tests/peers/install.sh as root";
            }
        }

        return null;
    }

    private static bool OnPath(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty)
            .Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Any(dir => File.Exists(Path.Combine(dir, tool)));
}
