using System.Diagnostics;
using System.Globalization;
using System.Text;
using Xunit.Abstractions;

namespace EarlyPipeProxy.EndToEnd.Tests.Infrastructure;

/// <summary>
/// Runs one of bench/'s scripts for a test: the same script an operator runs, so that the test and the figures in
/// bench/README.md cannot measure different things.
/// </summary>
public static class BenchScript
{
    /// <summary>
    /// Runs <paramref name="script"/> with bash in its own directory. Past <paramref name="timeout"/> it gets SIGTERM
    /// first, so that its exit trap stops what it started (proxy, Postfix, Exim, namespaces), and is killed outright
    /// only when it has not ended within <paramref name="grace"/> after that; the timeout is noted in its stderr.
    /// </summary>
    public static async Task<ScriptResult> RunAsync(string script, IReadOnlyDictionary<string, string> environment, TimeSpan timeout,
        TimeSpan grace, ITestOutputHelper output)
    {
        var name = Path.GetFileName(script);
        var psi = new ProcessStartInfo("bash")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetDirectoryName(script)!,
        };
        psi.ArgumentList.Add(script);
        foreach (var (key, value) in environment)
        {
            psi.Environment[key] = value;
        }

        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        using var process = new Process { StartInfo = psi };
        process.OutputDataReceived += (_, e) => Append(stdout, e.Data);
        process.ErrorDataReceived += (_, e) => Append(stderr, e.Data);
        var started = Stopwatch.StartNew();
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using (var deadline = new CancellationTokenSource(timeout))
        {
            try
            {
                await process.WaitForExitAsync(deadline.Token);
            }
            catch (OperationCanceledException)
            {
                output.WriteLine($"{name} still running after {timeout}; sending SIGTERM to pid {process.Id}");
                using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString(CultureInfo.InvariantCulture)]))
                {
                    await kill.WaitForExitAsync();
                }

                using var graceEnd = new CancellationTokenSource(grace);
                try
                {
                    await process.WaitForExitAsync(graceEnd.Token);
                }
                catch (OperationCanceledException)
                {
                    process.Kill(entireProcessTree: true);
                    await process.WaitForExitAsync();
                }

                Append(stderr, $"({name} timed out after {timeout})");
            }
        }

        process.WaitForExit(); // flushes the asynchronous output readers
        output.WriteLine($"{name} took {started.Elapsed.TotalSeconds:F1} s");
        lock (stdout)
        {
            lock (stderr)
            {
                return new ScriptResult(process.ExitCode, stdout.ToString(), stderr.ToString());
            }
        }
    }

    private static void Append(StringBuilder text, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (text)
        {
            text.AppendLine(line);
        }
    }
}
