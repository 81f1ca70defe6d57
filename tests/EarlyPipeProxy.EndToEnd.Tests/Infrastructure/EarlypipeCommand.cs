using System.Diagnostics;
using Xunit.Abstractions;

namespace EarlyPipeProxy.EndToEnd.Tests.Infrastructure;

/// <summary>
/// Runs the built `earlypipe` command once, as an operator would, and returns what it said. The test process's own
/// EARLYPIPE__ variables are not passed on, so that only the test's configuration counts.
/// </summary>
public static class EarlypipeCommand
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);

    public static async Task<(int Exit, string Out, string Err)> RunAsync(
        ITestOutputHelper output,
        IReadOnlyList<string> args,
        IReadOnlyDictionary<string, string>? environment = null,
        string? workingDirectory = null)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(args);
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (workingDirectory is not null)
        {
            psi.WorkingDirectory = workingDirectory;
        }

        foreach (var inherited in psi.Environment.Keys.Where(k => k.StartsWith("EARLYPIPE__", StringComparison.Ordinal)).ToList())
        {
            psi.Environment.Remove(inherited);
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            psi.Environment[name] = value;
        }

        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "earlypipe.dll"));
        foreach (var arg in args)
        {
            psi.ArgumentList.Add(arg);
        }

        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var limit = new CancellationTokenSource(Limit);
        try
        {
            await process.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"earlypipe {string.Join(' ', args)} did not exit within {Limit.TotalSeconds} s");
        }

        var (text, errors) = (await stdout, await stderr);
        output.WriteLine($"earlypipe {string.Join(' ', args)} -> exit {process.ExitCode}\nstdout:\n{text}\nstderr:\n{errors}");
        return (process.ExitCode, text, errors);
    }
}
