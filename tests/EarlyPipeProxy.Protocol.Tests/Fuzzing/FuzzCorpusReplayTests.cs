namespace EarlyPipeProxy.Protocol.Tests.Fuzzing;

/// <summary>
/// The committed corpus of every fuzz target through the uninstrumented harness: each input keeps every invariant the
/// target checks. Needs no AFL++, so it runs everywhere.
/// </summary>
public sealed class FuzzCorpusReplayTests
{
    public static TheoryData<string> Targets => [.. FuzzHarness.Targets];

    [Theory]
    [MemberData(nameof(Targets))]
    public void The_committed_corpus_replays_clean(string target)
    {
        var harness = Path.Combine(FuzzHarness.BuildDirectory, "EarlyPipeProxy.Fuzz.dll");
        Assert.True(File.Exists(harness), $"{harness} missing: build the test project, which builds the harness first");

        var (exitCode, output) = FuzzHarness.Run(FuzzHarness.Dotnet, [harness, target, "--replay", FuzzHarness.Corpus(target)], TimeSpan.FromMinutes(2));

        Assert.True(exitCode == 0, $"replaying fuzz/corpus/{target} exited with {exitCode}:\n{output}");
    }

    [Fact]
    public void The_harness_lists_exactly_the_targets_these_tests_run()
    {
        var harness = Path.Combine(FuzzHarness.BuildDirectory, "EarlyPipeProxy.Fuzz.dll");

        var (exitCode, output) = FuzzHarness.Run(FuzzHarness.Dotnet, [harness, "--list"], TimeSpan.FromMinutes(1));

        Assert.Equal(0, exitCode);
        Assert.Equal(FuzzHarness.Targets.Order(StringComparer.Ordinal), output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal));
    }
}
