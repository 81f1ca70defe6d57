namespace EarlyPipeProxy.Protocol.Tests.Fuzzing;

/// <summary>
/// A copy of the harness build with its protocol DLL instrumented by sharpfuzz (fuzz/instrument.sh), made once for all
/// the AFL++ smoke runs, in a temporary directory of its own and deleted afterwards.
/// </summary>
public sealed class InstrumentedHarness : IDisposable
{
    private readonly Lazy<string> _directory;
    private readonly DirectoryInfo _work = Directory.CreateTempSubdirectory("earlypipe-fuzz-");

    public InstrumentedHarness()
    {
        // Made on first use: a skipped smoke never pays for it.
        _directory = new Lazy<string>(() =>
        {
            var harness = Path.Combine(_work.FullName, "harness");
            var script = Path.Combine(FuzzHarness.RepositoryRoot, "fuzz", "instrument.sh");
            var (exitCode, output) = FuzzHarness.Run("bash", [script, FuzzHarness.BuildDirectory, harness], TimeSpan.FromMinutes(3));
            return exitCode == 0 ? harness : throw new InvalidOperationException($"instrumenting failed ({exitCode}):\n{output}");
        });
    }

    public string Location => _directory.Value;

    /// <summary>A fresh directory for one run's output.</summary>
    public string NewOutputDirectory(string name) => Directory.CreateDirectory(Path.Combine(_work.FullName, name)).FullName;

    public void Dispose() => _work.Delete(recursive: true);
}
