using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using EarlyPipeProxy.EndToEnd.Tests.Infrastructure;
using EarlyPipeProxy.Sessions.EhloCache;
using Xunit.Abstractions;

namespace EarlyPipeProxy.EndToEnd.Tests;

/// <summary>
/// `earlypipe cache list|show|flush` as an operator runs it: against the database file while no proxy runs, through the
/// control socket while one does (the proxy then holds the file's lock). No MTA is needed; the proxy's one listener
/// points at a closed port and is never connected to.
/// </summary>
/// <remarks>In the end-to-end collection so that no other test's EARLYPIPE__ environment variables reach these processes.</remarks>
[Collection(EndToEndCollection.Name)]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class CacheCommandTests(ITestOutputHelper output) : IDisposable
{
    private static readonly IPAddress Local = IPAddress.Parse("127.0.0.1");
    private static readonly EhloCacheKey First = new(Local, IPAddress.Parse("127.0.0.2"), 25, TlsPhase.Cleartext);
    private static readonly EhloCacheKey Second = new(Local, IPAddress.Parse("127.0.0.3"), 2525, TlsPhase.Cleartext);

    // Short: a Unix socket path must fit in 108 bytes.
    private readonly string _dir = Directory.CreateTempSubdirectory("ep-cache-").FullName;

    private string Database => Path.Combine(_dir, "cache.db");

    private string SocketPath => Path.Combine(_dir, "control.sock");

    [Fact]
    public async Task List_Show_Flush_ReadTheFileWhenStopped_AndGoThroughTheControlSocketWhileTheProxyRuns()
    {
        await SeedAsync();
        var config = await WriteCliConfigAsync(withControl: true);

        // No proxy: the CLI opens the file itself.
        var stopped = await CliAsync("cache", "list", "--config", config);
        Assert.Equal(0, stopped.Exit);
        Assert.Equal(2, Lines(stopped.Out).Length);
        Assert.Contains("[127.0.0.2]:25 cleartext from 127.0.0.1 PIPECONNECT learnt=", stopped.Out, StringComparison.Ordinal);
        Assert.Contains("[127.0.0.3]:2525 cleartext from 127.0.0.1 PIPECONNECT learnt=", stopped.Out, StringComparison.Ordinal);
        Assert.All(Lines(stopped.Out), line => Assert.EndsWith(" fresh", line, StringComparison.Ordinal));

        await using var proxy = await StartProxyAsync(withControl: true);
        await Poll.UntilAsync(() => File.Exists(SocketPath), "the control socket");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(SocketPath));

        var running = await CliAsync("cache", "list", "--config", config);
        Assert.Equal(0, running.Exit);
        Assert.Equal(WithoutAge(stopped.Out), WithoutAge(running.Out));
        await proxy.WaitForOutputAsync(l => l.Contains("control: list: ok", StringComparison.Ordinal), "the proxy answering the list");

        var show = await CliAsync("cache", "show", "127.0.0.2:25", "--config", config);
        Assert.Equal(0, show.Exit);
        Assert.StartsWith("[127.0.0.2]:25 cleartext from 127.0.0.1 PIPECONNECT ", show.Out, StringComparison.Ordinal);
        Assert.Contains("\n    250-mx2.test Hello earlypipe.test [127.0.0.1]\n    250-PIPELINING\n    250 PIPECONNECT\n", show.Out, StringComparison.Ordinal);
        Assert.DoesNotContain("127.0.0.3", show.Out, StringComparison.Ordinal);

        var flush = await CliAsync("cache", "flush", "127.0.0.2", "--config", config);
        Assert.Equal(0, flush.Exit);
        Assert.Equal("flushed 1 entries", flush.Out.Trim());

        var after = await CliAsync("cache", "list", "--config", config);
        Assert.StartsWith("[127.0.0.3]:2525 ", Assert.Single(Lines(after.Out)), StringComparison.Ordinal);

        Assert.Equal(0, await proxy.StopAsync());
        Assert.False(File.Exists(SocketPath), "the control socket is removed when the proxy stops");

        await using var reopened = EhloCache.Open(new EhloCacheOptions { DatabasePath = Database }, TimeProvider.System);
        Assert.True(reopened.IsPersistent);
        Assert.Equal(Second, Assert.Single(reopened.List()).Key);
    }

    [Fact]
    public async Task BadRequests_GetAnErrorLine_AndTheProxyKeepsServing_AStaleSocketIsReplaced()
    {
        await SeedAsync();
        var config = await WriteCliConfigAsync(withControl: true);
        await using (await StartProxyAsync(withControl: true))
        {
            // Killed, not stopped: the socket file stays behind, as after a crash.
        }

        Assert.True(File.Exists(SocketPath), "SIGKILL leaves the socket file");

        await using var proxy = await StartProxyAsync(withControl: true);
        await proxy.WaitForOutputAsync(l => l.Contains("replaced a stale socket file", StringComparison.Ordinal), "the stale socket replaced");

        Assert.Equal("error unknown request (list | show HOST[:PORT] | flush [HOST[:PORT]])\n", await RawRequestAsync("DROP TABLE\n"u8.ToArray()));
        Assert.StartsWith("error the request must be one line of at most 512 bytes", await RawRequestAsync(Encoding.ASCII.GetBytes(new string('x', 4000))), StringComparison.Ordinal);
        Assert.StartsWith("error 'mx.example.org' is not an IP address", await RawRequestAsync("show mx.example.org\n"u8.ToArray()), StringComparison.Ordinal);
        Assert.StartsWith("error ", await RawRequestAsync([0xff, 0xfe, 0x00, 0x1b, (byte)'\n']), StringComparison.Ordinal);

        // A client that connects and says nothing is dropped after Control:RequestTimeout (1 s here), not served forever.
        using (var silent = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            await silent.ConnectAsync(new UnixDomainSocketEndPoint(SocketPath));
            using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            Assert.Equal(0, await silent.ReceiveAsync(new byte[64], SocketFlags.None, limit.Token));
        }

        var list = await CliAsync("cache", "list", "--config", config);
        Assert.Equal(0, list.Exit);
        Assert.Equal(2, Lines(list.Out).Length);
        Assert.False(proxy.HasExited);
    }

    [Fact]
    public async Task Flush_WithoutAProxy_IsWrittenToTheFile()
    {
        await SeedAsync();
        var config = await WriteCliConfigAsync(withControl: true);

        var flush = await CliAsync("cache", "flush", "--config", config);

        Assert.Equal(0, flush.Exit);
        Assert.Equal("flushed 2 entries", flush.Out.Trim());
        await using var reopened = EhloCache.Open(new EhloCacheOptions { DatabasePath = Database }, TimeProvider.System);
        Assert.Empty(reopened.List());
    }

    [Fact]
    public async Task Show_BadHostOrUnknownVerb_IsAUsageError_AndAMissingEntryAnError()
    {
        await SeedAsync();
        var config = await WriteCliConfigAsync(withControl: false);

        var badHost = await CliAsync("cache", "show", "mx.example.org", "--config", config);
        var noHost = await CliAsync("cache", "show", "--config", config);
        var unknown = await CliAsync("cache", "purge", "--config", config);
        var missing = await CliAsync("cache", "show", "192.0.2.1", "--config", config);

        Assert.Equal(2, badHost.Exit);
        Assert.Contains("'mx.example.org' is not an IP address", badHost.Err, StringComparison.Ordinal);
        Assert.Equal(2, noHost.Exit);
        Assert.Equal(2, unknown.Exit);
        Assert.Contains("earlypipe: Unrecognized command or argument 'purge'", unknown.Err, StringComparison.Ordinal);
        Assert.Contains("earlypipe cache [command] [options]", unknown.Err, StringComparison.Ordinal);
        Assert.Equal(1, missing.Exit);
        Assert.Contains("no entries for 192.0.2.1", missing.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ProxyWithoutControlSocket_HoldsTheFile_TheCliSaysWhatToDo()
    {
        await SeedAsync();
        var config = await WriteCliConfigAsync(withControl: false);
        await using var proxy = await StartProxyAsync(withControl: false);

        var list = await CliAsync("cache", "list", "--config", config);

        Assert.Equal(1, list.Exit);
        Assert.Empty(list.Out);
        Assert.Contains("in use by a running proxy", list.Err, StringComparison.Ordinal);
        Assert.Contains("set Control:SocketPath", list.Err, StringComparison.Ordinal);
        Assert.False(proxy.HasExited);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string WithoutAge(string text) => System.Text.RegularExpressions.Regex.Replace(text, @" age=\S+ ", " ");

    private static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    private async Task SeedAsync()
    {
        await using var cache = EhloCache.Open(new EhloCacheOptions { DatabasePath = Database }, TimeProvider.System);
        Assert.Equal(EhloLearnOutcome.Stored, cache.Learn(First, 220, ["250-mx2.test Hello earlypipe.test [127.0.0.1]", "250-PIPELINING", "250 PIPECONNECT"]));
        Assert.Equal(EhloLearnOutcome.Stored, cache.Learn(Second, 220, ["250-mx3.test", "250-PIPELINING", "250-CHUNKING", "250 PIPECONNECT"]));
    }

    /// <summary>The CLI's config, with paths relative to its own directory as an operator would write them.</summary>
    private async Task<string> WriteCliConfigAsync(bool withControl)
    {
        var config = new Dictionary<string, object>
        {
            ["Inbound"] = new[] { new { Name = "smtp", Listen = $"127.0.0.1:{Peers.FreePort()}" } },
            ["EhloCache"] = new { DatabasePath = "cache.db" },
        };
        if (withControl)
        {
            config["Control"] = new { SocketPath = "control.sock" };
        }

        var path = Path.Combine(_dir, "cli.json");
        await File.WriteAllTextAsync(path, JsonSerializer.Serialize(config));
        return path;
    }

    /// <summary>The proxy's config (in its own directory), naming the same files by absolute path.</summary>
    private Task<ProxyProcess> StartProxyAsync(bool withControl)
    {
        var sections = new Dictionary<string, object> { ["EhloCache"] = new { DatabasePath = Database } };
        if (withControl)
        {
            sections["Control"] = new { SocketPath = SocketPath, RequestTimeout = "00:00:01" };
        }

        return ProxyProcess.StartAsync(output, sections, new ListenerSpec("smtp", BackendPort: Peers.FreePort()));
    }

    private async Task<string> RawRequestAsync(byte[] request)
    {
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(SocketPath));
        await socket.SendAsync(request, SocketFlags.None);
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var answer = new MemoryStream();
        var buffer = new byte[4096];
        int read;
        while ((read = await socket.ReceiveAsync(buffer, SocketFlags.None, limit.Token)) > 0)
        {
            answer.Write(buffer, 0, read);
        }

        var text = Encoding.UTF8.GetString(answer.ToArray());
        output.WriteLine($"raw request ({request.Length} bytes) -> {text}");
        return text;
    }

    private Task<(int Exit, string Out, string Err)> CliAsync(params string[] args) => EarlypipeCommand.RunAsync(output, args);
}
