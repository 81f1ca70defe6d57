namespace EarlyPipeProxy.Protocol.Tests.Fuzzing;

/// <summary>
/// Each fuzz target briefly under AFL++ (fuzz/afl.sh, SharpFuzz-instrumented protocol DLL): no crash (a broken
/// invariant throws) and no hang; then everything AFL++ kept replays clean through the uninstrumented harness.
/// FUZZ_SMOKE_SECONDS sets the time per target (default 10). Needs afl-fuzz, which tests/fuzz/install.sh installs when
/// tests/run-all.sh runs as root (afl-fuzz itself runs without root): skipped without it, except with CI=true.
/// bench/fuzz/run.sh is the long run.
/// </summary>
public sealed class AflSmokeTests(InstrumentedHarness harness) : IClassFixture<InstrumentedHarness>
{
    private const int DefaultSeconds = 10;

    private static readonly string[] FindingKinds = ["crashes", "hangs"];

    public static TheoryData<string> Targets => [.. FuzzHarness.Targets];

    [SkippableTheory]
    [MemberData(nameof(Targets))]
    public void A_short_AFL_run_finds_no_crash_and_no_hang(string target)
    {
        RequireAfl();
        var seconds = int.TryParse(Environment.GetEnvironmentVariable("FUZZ_SMOKE_SECONDS"), out var s) && s > 0 ? s : DefaultSeconds;
        var output = harness.NewOutputDirectory(target);
        var script = Path.Combine(FuzzHarness.RepositoryRoot, "fuzz", "afl.sh");

        var (exitCode, summary) = FuzzHarness.Run("bash", [script, harness.Location, target, seconds.ToString(), output], TimeSpan.FromSeconds(seconds + 120));

        Assert.True(exitCode == 0, $"afl-fuzz on {target} exited with {exitCode}: {summary}\n{Findings(output)}");
        Assert.Matches(@"execs=[1-9]", summary);
        var kept = Path.Combine(output, "default", "queue");
        var plain = Path.Combine(FuzzHarness.BuildDirectory, "EarlyPipeProxy.Fuzz.dll");
        var (replayed, replayOutput) = FuzzHarness.Run(FuzzHarness.Dotnet, [plain, target, "--replay", kept], TimeSpan.FromMinutes(2));
        Assert.True(replayed == 0, $"AFL++'s queue for {target} does not replay clean:\n{replayOutput}");
    }

    /// <summary>The inputs AFL++ saved as crashes or hangs, escaped, so that the failure message carries them.</summary>
    private static string Findings(string output)
    {
        var saved = FindingKinds
            .Select(kind => Path.Combine(output, "default", kind))
            .Where(Directory.Exists)
            .SelectMany(dir => Directory.EnumerateFiles(dir))
            .Where(file => Path.GetFileName(file) != "README.txt")
            .Take(5)
            .Select(file => $"{file}: {EarlyPipeProxy.Fuzz.Drivers.Shown.Bytes(File.ReadAllBytes(file))}");
        return string.Join('\n', saved);
    }

    private static void RequireAfl()
    {
        var reason = MissingReason();
        if (reason is null)
        {
            return;
        }

        if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
        {
            Assert.Fail("CI=true, so the AFL++ smoke must run, but: " + reason);
        }

        Skip.If(true, reason);
    }

    private static string? MissingReason()
    {
        if (!OperatingSystem.IsLinux())
        {
            return "AFL++ runs on Linux only";
        }

        var path = Environment.GetEnvironmentVariable("PATH") ?? "";
        if (!path.Split(':').Any(dir => File.Exists(Path.Combine(dir, "afl-fuzz"))))
        {
            return "afl-fuzz not found: run tests/fuzz/install.sh as root (it installs Debian's afl++ and restores the sharpfuzz tool)";
        }

        return null;
    }
}
