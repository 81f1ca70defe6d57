using System.Diagnostics;

namespace EarlyPipeProxy.EndToEnd.Tests.Infrastructure;

/// <summary>
/// A throwaway network namespace with only its loopback up, named uniquely so that test runs side by side (and the
/// fixed namespaces of tests/netns) never meet; deleted on dispose. Nothing in it can reach the outside: it has no
/// other interface. Needs root and iproute2.
/// </summary>
public sealed class NetworkNamespace : IAsyncDisposable
{
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(30);

    private NetworkNamespace(string name) => Name = name;

    public string Name { get; }

    public static async Task<NetworkNamespace> CreateAsync(string prefix)
    {
        var name = $"{prefix}-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..8]}";
        await RunCheckedAsync("ip", ["netns", "add", name]);
        var ns = new NetworkNamespace(name);
        try
        {
            await RunCheckedAsync("ip", ["-n", name, "link", "set", "lo", "up"]);
        }
        catch
        {
            await ns.DisposeAsync();
            throw;
        }

        return ns;
    }

    /// <summary>Runs <paramref name="command"/> inside the namespace to completion.</summary>
    public Task<ScriptResult> ExecAsync(IEnumerable<string> command, TimeSpan? timeout = null) =>
        RunAsync("ip", ["netns", "exec", Name, .. command], timeout ?? CommandTimeout);

    /// <summary>Starts <paramref name="command"/> inside the namespace with stdout and stderr redirected; the caller owns it.</summary>
    public Process Start(IEnumerable<string> command)
    {
        var psi = new ProcessStartInfo("ip")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in (string[])["netns", "exec", Name, .. command])
        {
            psi.ArgumentList.Add(arg);
        }

        return Process.Start(psi) ?? throw new InvalidOperationException("cannot start ip netns exec");
    }

    /// <summary>
    /// Deletes the namespace. Its processes must have ended first (the caller kills what it started): the kernel keeps
    /// a namespace alive as long as a process is in it, even after its name is gone.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        // Not thrown: a failure here would hide the test's own result, and there is nothing more to try.
        await RunAsync("ip", ["netns", "del", Name], CommandTimeout);
    }

    private static async Task RunCheckedAsync(string file, IReadOnlyList<string> args)
    {
        var result = await RunAsync(file, args, CommandTimeout);
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} failed: {result}");
        }
    }

    private static async Task<ScriptResult> RunAsync(string file, IReadOnlyList<string> args, TimeSpan timeout)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in args)
        {
            psi.ArgumentList.Add(arg);
        }

        using var process = Process.Start(psi) ?? throw new InvalidOperationException("cannot start " + file);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish in {timeout}:\n{await stdout}\n{await stderr}");
        }

        return new ScriptResult(process.ExitCode, await stdout, await stderr);
    }
}
