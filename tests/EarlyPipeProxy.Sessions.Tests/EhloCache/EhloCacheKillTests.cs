using System.Diagnostics;
using System.Globalization;
using EarlyPipeProxy.Sessions.EhloCache;
using EarlyPipeProxy.Sessions.Tests.TestSupport;
using Xunit.Abstractions;
using static EarlyPipeProxy.Sessions.Tests.EhloCache.EhloCacheFixtures;

namespace EarlyPipeProxy.Sessions.Tests.EhloCache;

/// <summary>
/// kill -9 in the middle of writing: a child process (EarlyPipeProxy.EhloCacheCrashProbe) learns and flushes entries in
/// a loop and is killed with SIGKILL at a random moment; reopening the file must show what it had persisted, or start
/// empty after moving a damaged file aside. Never an exception, never a hang.
/// </summary>
public sealed class EhloCacheKillTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan StepLimit = TimeSpan.FromSeconds(60);

    private readonly string _path = TempPath("ehlo.db");

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path.GetDirectoryName(_path)!, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    [Fact]
    public async Task Kill_9_while_writing_loses_nothing_but_the_cache()
    {
        var random = new Random(Environment.ProcessId);
        var persistedByRound = new List<int>();
        for (var round = 0; round < 6; round++)
        {
            persistedByRound.Add(await RunAndKillAsync(round, killAfter: TimeSpan.FromMilliseconds(random.Next(0, 400))));

            var log = new ListLogger();
            await using var cache = await Task.Run(() =>
                Sessions.EhloCache.EhloCache.Open(new EhloCacheOptions { DatabasePath = _path }, TimeProvider.System, log)).WaitAsync(StepLimit);

            var damaged = log.Lines.Any(line => line.Contains("unreadable", StringComparison.Ordinal));
            output.WriteLine($"round {round}: probe persisted {persistedByRound[round]}, reopened with {cache.Count} entries{(damaged ? ", file damaged and moved aside" : string.Empty)}");
            if (damaged)
            {
                // The other acceptable outcome: a damaged file moved aside and an empty cache.
                Assert.Equal(0, cache.Count);
                Assert.NotEmpty(Directory.GetFiles(Path.GetDirectoryName(_path)!, "*.corrupt-*"));
                persistedByRound.Clear();
                persistedByRound.AddRange(Enumerable.Repeat(0, round + 1));
            }
            else
            {
                for (var earlier = 0; earlier <= round; earlier++)
                {
                    AssertPersistedEntriesPresent(cache, earlier, persistedByRound[earlier]);
                }
            }

            Assert.All(cache.List(), entry => Assert.True(entry.OffersEarlyPipelining));
            Assert.Equal(EhloLearnOutcome.Stored, cache.Learn(Key(local: OtherLocal, port: 1000 + round), 220, EarlyReply()));
            Assert.True(cache.IsPersistent);
        }
    }

    /// <summary>
    /// Every cleartext key the probe learnt before its last "persisted N" line is in the file (the OS keeps every write()
    /// of a killed process; only what LiteDB had not written yet may be lost), each with its own or a later write.
    /// </summary>
    private static void AssertPersistedEntriesPresent(Sessions.EhloCache.EhloCache cache, int round, int persisted)
    {
        var local = System.Net.IPAddress.Parse(string.Create(CultureInfo.InvariantCulture, $"10.0.{round}.1"));
        var cleartext = cache.List()
            .Where(entry => entry.Key.LocalAddress.Equals(local) && entry.Key.Phase == TlsPhase.Cleartext)
            .ToDictionary(entry => (entry.Key.RemoteAddress.GetAddressBytes()[3], entry.Key.RemotePort));
        for (var i = Math.Max(0, persisted - 10_000); i < persisted; i++)
        {
            Assert.True(cleartext.TryGetValue(((byte)(i % 200), 25 + (i / 200 % 50)), out var entry),
                $"round {round}: entry {i} of {persisted} persisted ones is missing after kill -9 ({cleartext.Count} present)");
            var size = int.Parse(entry.CreateCapabilities().GetParameters("SIZE")!, CultureInfo.InvariantCulture);
            Assert.True(size >= i && size % 10_000 == i % 10_000, $"round {round}: entry {i} holds the write of {size}");
        }
    }

    /// <summary>Starts the probe, waits for its first "persisted" line plus <paramref name="killAfter"/>, kills it with SIGKILL.</summary>
    private async Task<int> RunAndKillAsync(int round, TimeSpan killAfter)
    {
        var probe = Path.Combine(AppContext.BaseDirectory, "EarlyPipeProxy.EhloCacheCrashProbe.dll");
        Assert.True(File.Exists(probe), $"{probe} is missing");
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(probe);
        start.ArgumentList.Add(_path);
        start.ArgumentList.Add(round.ToString(CultureInfo.InvariantCulture));

        using var process = Process.Start(start)!;
        var persisted = 0;
        var firstPersist = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var stderr = process.StandardError.ReadToEndAsync();
        var reader = Task.Run(async () =>
        {
            while (await process.StandardOutput.ReadLineAsync() is { } line)
            {
                var parts = line.Split(' ');
                if (parts[0] == "persisted")
                {
                    Volatile.Write(ref persisted, int.Parse(parts[1], CultureInfo.InvariantCulture));
                    firstPersist.TrySetResult();
                }
            }

            firstPersist.TrySetResult();
        });

        try
        {
            await firstPersist.Task.WaitAsync(StepLimit);
            if (process.HasExited)
            {
                // Only now: stderr completes when the probe exits, so awaiting it earlier would wait for ever.
                Assert.Fail($"probe exited early: {await stderr.WaitAsync(StepLimit)}");
            }

            await Task.Delay(killAfter);
        }
        finally
        {
            // Process.Kill sends SIGKILL on Unix: no finalizers, no DisposeAsync, no checkpoint.
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync().WaitAsync(StepLimit);
        }

        await reader.WaitAsync(StepLimit);

        // Lines printed before the kill are all read by now (EOF): the last one is the last the probe saw persisted.
        return Volatile.Read(ref persisted);
    }
}
