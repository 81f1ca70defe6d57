using System.Diagnostics;

namespace EarlyPipeProxy.Protocol.Tests.Fuzzing;

/// <summary>Where the fuzz harness and its scripts are, and a way to run them with a hard time limit.</summary>
internal static class FuzzHarness
{
    public static readonly string[] Targets = ["lines", "proxy-header", "replies", "scanner", "session"];

    public static string RepositoryRoot { get; } = FindRoot();

    /// <summary>The harness built with the same configuration as these tests (the project reference builds it first).</summary>
    public static string BuildDirectory
    {
        get
        {
            // The tests run from tests/EarlyPipeProxy.Protocol.Tests/bin/CONFIGURATION/TFM/.
            var tfm = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
            var configuration = tfm.Parent!.Name;
            return Path.Combine(RepositoryRoot, "fuzz", "EarlyPipeProxy.Fuzz", "bin", configuration, tfm.Name);
        }
    }

    public static string Corpus(string target) => Path.Combine(RepositoryRoot, "fuzz", "corpus", target);

    /// <summary>Runs a program to its end or kills it (and its children) after <paramref name="limit"/>; returns the exit code and everything it wrote.</summary>
    public static (int ExitCode, string Output) Run(string fileName, IEnumerable<string> arguments, TimeSpan limit)
    {
        var start = new ProcessStartInfo(fileName)
        {
            WorkingDirectory = RepositoryRoot,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(limit))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            return (-1, $"killed after {limit}: {output.Result}{error.Result}");
        }

        return (process.ExitCode, output.Result + error.Result);
    }

    /// <summary>The dotnet that runs these tests (dotnet test sets DOTNET_HOST_PATH), else the one on PATH.</summary>
    public static string Dotnet => Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet";

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "EarlyPipeProxy.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("EarlyPipeProxy.sln not found above " + AppContext.BaseDirectory);
    }
}
