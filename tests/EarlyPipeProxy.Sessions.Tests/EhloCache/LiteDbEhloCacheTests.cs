using System.Net;
using EarlyPipeProxy.Sessions.EhloCache;
using EarlyPipeProxy.Sessions.Tests.TestSupport;
using Microsoft.Extensions.Time.Testing;
using Xunit.Abstractions;
using static EarlyPipeProxy.Sessions.Tests.EhloCache.EhloCacheFixtures;

namespace EarlyPipeProxy.Sessions.Tests.EhloCache;

/// <summary>The cache on its LiteDB file: persistence, damaged files, concurrent callers.</summary>
public sealed class LiteDbEhloCacheTests(ITestOutputHelper output) : IDisposable
{
    // Opening a file must never hang the proxy's start.
    private static readonly TimeSpan OpenLimit = TimeSpan.FromSeconds(30);

    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2025, 3, 1, 12, 0, 0, TimeSpan.Zero));
    private readonly string _path = TempPath("ehlo.db");
    private readonly ListLogger _log = new();

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
    public async Task Entries_survive_a_reopen()
    {
        await using (var cache = await OpenAsync())
        {
            Assert.True(cache.IsPersistent);
            cache.Learn(Key(), 220, EarlyReply());
            cache.Learn(Key(TlsPhase.AfterStartTls, local: IPAddress.IPv6Loopback, remote: IPAddress.Parse("2001:db8::25"), port: 587), 220,
                EarlyReply("X_PIPE_CONNECT"));
            _time.Advance(TimeSpan.FromMinutes(5));
            cache.Confirm(Key());
        }

        await using var reopened = await OpenAsync();
        Assert.Equal(2, reopened.Count);
        Assert.True(reopened.TryGetFresh(Key(), out var entry));
        Assert.Equal(EarlyReply(), entry.ReplyLines);
        Assert.Equal(220, entry.BannerCode);
        Assert.Equal(_time.GetUtcNow() - TimeSpan.FromMinutes(5), entry.LearntAt);
        Assert.Equal(_time.GetUtcNow(), entry.LastConfirmedAt);

        var v6 = Key(TlsPhase.AfterStartTls, local: IPAddress.IPv6Loopback, remote: IPAddress.Parse("2001:db8::25"), port: 587);
        Assert.True(reopened.TryGetFresh(v6, out var v6Entry));
        Assert.Equal("X_PIPE_CONNECT", v6Entry.EarlyPipeKeyword);
        Assert.Contains(_log.Lines, line => line.Contains("2 entries loaded", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Flushes_and_rewrites_survive_a_reopen()
    {
        await using (var cache = await OpenAsync())
        {
            cache.Learn(Key(), 220, EarlyReply());
            cache.Learn(Key(port: 587), 220, EarlyReply());
            cache.Learn(Key(port: 465), 220, EarlyReply());
            await cache.WaitForPendingWritesAsync();

            cache.OnEarlyTransactionReply(Key(), 451);
            cache.Learn(Key(port: 587), 220, EarlyReply(size: "1"));
        }

        await using var reopened = await OpenAsync();
        Assert.False(reopened.TryGetFresh(Key(), out _));
        Assert.True(reopened.TryGetFresh(Key(port: 587), out var rewritten));
        Assert.Equal("1", rewritten.CreateCapabilities().GetParameters("SIZE"));
        Assert.True(reopened.TryGetFresh(Key(port: 465), out _));
    }

    [Fact]
    public async Task Expiry_applies_to_entries_read_from_the_file()
    {
        await using (var cache = await OpenAsync())
        {
            cache.Learn(Key(), 220, EarlyReply());
        }

        _time.Advance(TimeSpan.FromDays(8));
        await using (var reopened = await OpenAsync())
        {
            Assert.False(reopened.TryGetFresh(Key(), out _));
        }

        // The expired entry read on the way was also removed from the file.
        await using var third = await OpenAsync();
        Assert.Equal(0, third.Count);
    }

    public static TheoryData<string> Damage => ["garbage", "zeros", "truncated", "scrambled-pages", "garbage-log"];

    [Theory]
    [MemberData(nameof(Damage))]
    public async Task Damaged_file_never_stops_the_cache(string damage)
    {
        await using (var cache = await OpenAsync())
        {
            for (var i = 0; i < 300; i++)
            {
                cache.Learn(Key(port: 1000 + i), 220, EarlyReply(size: new string('9', i % 200)));
            }
        }

        Damage_(damage);

        await using (var cache = await OpenAsync())
        {
            var moved = Directory.GetFiles(Path.GetDirectoryName(_path)!, "*.corrupt-*");
            output.WriteLine($"{damage}: {cache.Count} entries, moved aside: {string.Join(", ", moved.Select(Path.GetFileName))}");
            foreach (var line in _log.Lines)
            {
                output.WriteLine(line);
            }

            if (cache.Count == 0)
            {
                // Started empty: only acceptable when the damaged file was moved aside and logged.
                Assert.NotEmpty(moved);
                Assert.Contains(_log.Lines, line => line.Contains("unreadable", StringComparison.Ordinal));
            }

            // Whatever was read is whole, and the cache works on: it learns and writes.
            Assert.All(cache.List(), entry => Assert.True(entry.OffersEarlyPipelining));
            Assert.Equal(EhloLearnOutcome.Stored, cache.Learn(Key(local: OtherLocal), 220, EarlyReply()));
            Assert.True(cache.IsPersistent);
        }

        await using var reopened = await OpenAsync();
        Assert.True(reopened.TryGetFresh(Key(local: OtherLocal), out _));
    }

    [Fact]
    public async Task Garbage_file_gives_an_empty_cache_and_is_moved_aside()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(_path)!);
        var garbage = new byte[64 * 1024];
        new Random(5).NextBytes(garbage);
        await File.WriteAllBytesAsync(_path, garbage);

        await using var cache = await OpenAsync();

        Assert.Equal(0, cache.Count);
        Assert.True(cache.IsPersistent);
        var moved = Assert.Single(Directory.GetFiles(Path.GetDirectoryName(_path)!, "ehlo.db.corrupt-*"));
        Assert.Equal(garbage, await File.ReadAllBytesAsync(moved));
        Assert.EndsWith(".corrupt-20250301T120000.000Z", moved, StringComparison.Ordinal);
        Assert.Contains(_log.Lines, line => line.StartsWith("Error:", StringComparison.Ordinal) && line.Contains("unreadable", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Many_concurrent_learns_and_flushes_leave_file_and_memory_alike()
    {
        IReadOnlyList<EhloCacheEntry> atClose;
        await using (var cache = await OpenAsync())
        {
            var workers = Enumerable.Range(0, 16).Select(worker => Task.Run(async () =>
            {
                var random = new Random(worker);
                for (var i = 0; i < 500; i++)
                {
                    var key = Key(port: 1 + random.Next(40), phase: (TlsPhase)random.Next(3));
                    switch (random.Next(6))
                    {
                        case 0:
                            cache.Flush(key, EhloCacheFlushReason.ConnectionFailed);
                            break;
                        case 1:
                            cache.OnEarlyTransactionReply(key, 451);
                            break;
                        case 2:
                            cache.Confirm(key);
                            break;
                        case 3:
                            cache.TryGetFresh(key, out _);
                            break;
                        default:
                            cache.Learn(key, 220, EarlyReply(size: random.Next(3).ToString(System.Globalization.CultureInfo.InvariantCulture)));
                            break;
                    }

                    if (i % 100 == 0)
                    {
                        await Task.Yield();
                    }
                }
            })).ToArray();
            await Task.WhenAll(workers);
            atClose = cache.List();
            Assert.Equal(0, cache.Counters.WriteFailures);
        }

        await using var reopened = await OpenAsync();
        var read = reopened.List();
        Assert.Equal(atClose.Select(Describe), read.Select(Describe));
        Assert.DoesNotContain(_log.Lines, line => line.StartsWith("Error:", StringComparison.Ordinal));
    }

    [Fact]
    public async Task File_in_use_by_another_cache_is_left_alone()
    {
        await using var first = await OpenAsync();
        first.Learn(Key(), 220, EarlyReply());
        await first.WaitForPendingWritesAsync();

        // A second opener (say the CLI while the proxy runs) must not take the live file for a damaged one.
        await using (var second = await OpenAsync())
        {
            foreach (var line in _log.Lines)
            {
                output.WriteLine(line);
            }

            Assert.False(second.IsPersistent);
            Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(_path)!, "*.corrupt-*"));
        }

        first.Learn(Key(port: 587), 220, EarlyReply());
        await first.WaitForPendingWritesAsync();
        Assert.Equal(0, first.Counters.WriteFailures);
    }

    [Fact]
    public async Task A_cache_opened_while_another_holds_the_file_briefly_waits_for_it_and_keeps_its_file()
    {
        // Say `earlypipe cache list` had the file open for a moment when the proxy started.
        var first = await OpenAsync();
        var release = Task.Run(async () =>
        {
            await Task.Delay(TimeSpan.FromMilliseconds(700));
            await first.DisposeAsync();
        });

        await using var second = await OpenAsync();
        await release;

        Assert.True(second.IsPersistent, "the second opener gave up on the file instead of waiting for its release");
    }

    [SkippableFact]
    public async Task The_database_and_its_lock_are_readable_by_their_owner_only()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "Unix file modes");
        await using var cache = await OpenAsync();
        cache.Learn(Key(), 220, EarlyReply());
        await cache.WaitForPendingWritesAsync();

#pragma warning disable CA1416 // Linux only (skipped above).
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(_path));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(_path + ".lock"));
#pragma warning restore CA1416
    }

    [Fact]
    public async Task Memory_only_cache_without_a_path()
    {
        await using var cache = Sessions.EhloCache.EhloCache.Open(new EhloCacheOptions(), _time);

        Assert.False(cache.IsPersistent);
        Assert.Equal(EhloLearnOutcome.Stored, cache.Learn(Key(), 220, EarlyReply()));
        await cache.WaitForPendingWritesAsync();
    }

    [Fact]
    public void Invalid_options_are_refused()
    {
        Assert.Throws<InvalidOperationException>(() => Sessions.EhloCache.EhloCache.Open(new EhloCacheOptions { Expiry = TimeSpan.Zero }, _time));
        Assert.Throws<InvalidOperationException>(() => Sessions.EhloCache.EhloCache.Open(new EhloCacheOptions { DatabasePath = string.Empty }, _time));
    }

    private static string Describe(EhloCacheEntry entry) =>
        $"{entry.Key} {entry.BannerCode} {string.Join("/", entry.ReplyLines)} {entry.LearntAt.ToUnixTimeMilliseconds()} {entry.LastConfirmedAt.ToUnixTimeMilliseconds()}";

    private async Task<Sessions.EhloCache.EhloCache> OpenAsync() =>
        await Task.Run(() => Sessions.EhloCache.EhloCache.Open(new EhloCacheOptions { DatabasePath = _path }, _time, _log))
            .WaitAsync(OpenLimit);

    private void Damage_(string damage)
    {
        var bytes = File.ReadAllBytes(_path);
        var random = new Random(17);
        switch (damage)
        {
            case "garbage":
                random.NextBytes(bytes);
                break;
            case "zeros":
                Array.Clear(bytes);
                break;
            case "truncated":
                bytes = bytes[..(bytes.Length / 2)];
                break;
            case "scrambled-pages":
                // Keep the header page (8 KiB), wreck the rest.
                random.NextBytes(bytes.AsSpan(8192));
                break;
            case "garbage-log":
                var log = Path.Combine(Path.GetDirectoryName(_path)!, "ehlo-log.db");
                var junk = new byte[32 * 1024];
                random.NextBytes(junk);
                File.WriteAllBytes(log, junk);
                return;
        }

        File.WriteAllBytes(_path, bytes);
    }
}
