using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace EarlyPipeProxy.EndToEnd.Tests.Infrastructure;

/// <summary>Where the peer scripts and their state live, and whether the peers can run here.</summary>
public static class Peers
{
    private static readonly Lazy<string?> ScriptsDirLazy = new(FindScriptsDir);

    /// <summary>State directory of tests/peers (same default as tests/peers/lib.sh).</summary>
    public static string StateDir =>
        Environment.GetEnvironmentVariable("PEERS_DIR") is { Length: > 0 } d ? d : "/var/tmp/earlypipe-peers";

    /// <summary>tests/peers of this repository, found by walking up from the test binaries.</summary>
    public static string? ScriptsDir => ScriptsDirLazy.Value;

    public static bool IsCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    public static string EximBinary => Path.Combine(StateDir, "exim-root/usr/sbin/exim4");

    /// <summary>null when the peers can run, else why not.</summary>
    public static string? UnavailableReason()
    {
        if (!OperatingSystem.IsLinux())
        {
            return "the end-to-end peers (Postfix, Exim) only run on Linux";
        }

        if (Environment.UserName != "root" && Environment.GetEnvironmentVariable("USER") != "root" && !IsRootByProc())
        {
            return "the end-to-end peers need root (Postfix and Exim run as root); run `sudo dotnet test` or set CI=true on a root runner";
        }

        if (ScriptsDir is null)
        {
            return "tests/peers/ not found above " + AppContext.BaseDirectory;
        }

        // install.sh leaves postfix out where installing it would replace the machine's own MTA, and says so here.
        var postfixUnavailable = Path.Combine(StateDir, "postfix-unavailable");
        if (!File.Exists("/usr/lib/postfix/sbin/master") && File.Exists(postfixUnavailable))
        {
            return File.ReadAllText(postfixUnavailable).Trim();
        }

        if (!File.Exists("/usr/lib/postfix/sbin/master") || !File.Exists(EximBinary))
        {
            return $"peers not installed (no /usr/lib/postfix/sbin/master or {EximBinary}); run tests/peers/install.sh as root";
        }

        return null;
    }

    /// <summary>Skips the test when the peers cannot run, except with CI=true, where it fails.</summary>
    public static void Require()
    {
        var reason = UnavailableReason();
        if (reason is null)
        {
            return;
        }

        if (IsCi)
        {
            throw new InvalidOperationException("CI=true but the end-to-end peers cannot run: " + reason);
        }

        Skip.If(true, reason);
    }

    private static bool IsRootByProc()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
            {
                if (line.StartsWith("Uid:", StringComparison.Ordinal))
                {
                    var parts = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
                    return parts.Length > 2 && parts[2] == "0";
                }
            }
        }
        catch (IOException)
        {
        }

        return false;
    }

    private static string? FindScriptsDir()
    {
        if (Environment.GetEnvironmentVariable("EARLYPIPE_PEERS_SCRIPTS") is { Length: > 0 } explicitDir)
        {
            return explicitDir;
        }

        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "tests", "peers");
            if (File.Exists(Path.Combine(candidate, "exim.sh")) && File.Exists(Path.Combine(candidate, "postfix.sh")))
            {
                return candidate;
            }
        }

        return null;
    }

    private static readonly HashSet<int> GivenPorts = [];

    /// <summary>
    /// A free TCP port on 127.0.0.1 (bound and released), never one this test process was given before: the kernel may
    /// hand the same ephemeral port out twice in a row, and two listeners of one Postfix on one port break it quietly.
    /// </summary>
    public static int FreePort()
    {
        lock (GivenPorts)
        {
            while (true)
            {
                using var listener = new TcpListener(IPAddress.Loopback, 0);
                listener.Start();
                var port = ((IPEndPoint)listener.LocalEndpoint).Port;
                listener.Stop();
                if (GivenPorts.Add(port))
                {
                    return port;
                }
            }
        }
    }

    /// <summary>Is a socket in LISTEN state on 127.0.0.1:port (or 0.0.0.0:port)? Read from /proc, so no connection is made.</summary>
    public static bool IsListening(int port)
    {
        var hexPort = ":" + port.ToString("X4");
        try
        {
            foreach (var line in File.ReadLines("/proc/net/tcp").Skip(1))
            {
                var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (f.Length > 3 && f[3] == "0A" && f[1].EndsWith(hexPort, StringComparison.Ordinal)
                    && (f[1].StartsWith("0100007F", StringComparison.Ordinal) || f[1].StartsWith("00000000", StringComparison.Ordinal)))
                {
                    return true;
                }
            }
        }
        catch (IOException)
        {
        }

        return false;
    }
}

/// <summary>Result of one script run.</summary>
public sealed record ScriptResult(int ExitCode, string Stdout, string Stderr)
{
    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Stdout}\n--- stderr\n{Stderr}";
}

/// <summary>Runs the bash scripts of tests/peers.</summary>
public static class PeerScripts
{
    public static async Task<ScriptResult> RunAsync(
        string script,
        IEnumerable<string> args,
        IReadOnlyDictionary<string, string>? env = null,
        byte[]? stdin = null,
        TimeSpan? timeout = null)
    {
        var scriptsDir = Peers.ScriptsDir ?? throw new InvalidOperationException("tests/peers not found");
        var psi = new ProcessStartInfo("bash")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(Path.Combine(scriptsDir, script));
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        psi.Environment["PEERS_DIR"] = Peers.StateDir;
        if (env is not null)
        {
            foreach (var (k, v) in env)
            {
                psi.Environment[k] = v;
            }
        }

        using var process = Process.Start(psi) ?? throw new InvalidOperationException("cannot start bash");
        var stdoutTask = process.StandardOutput.ReadToEndAsync();
        var stderrTask = process.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            await process.StandardInput.BaseStream.WriteAsync(stdin);
        }

        process.StandardInput.Close();
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(120));
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{script} {string.Join(' ', args)} did not finish in time:\n{await stdoutTask}\n{await stderrTask}");
        }

        return new ScriptResult(process.ExitCode, await stdoutTask, await stderrTask);
    }

    public static async Task<ScriptResult> RunCheckedAsync(string script, IEnumerable<string> args, IReadOnlyDictionary<string, string>? env = null)
    {
        var r = await RunAsync(script, args, env);
        if (r.ExitCode != 0)
        {
            throw new InvalidOperationException($"{script} {string.Join(' ', args)} failed: {r}");
        }

        return r;
    }
}

/// <summary>Polling with a deadline instead of fixed sleeps.</summary>
public static class Poll
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(20);

    public static async Task<T> UntilAsync<T>(Func<T?> probe, string what, TimeSpan? timeout = null)
        where T : class
    {
        var deadline = DateTime.UtcNow + (timeout ?? DefaultTimeout);
        while (true)
        {
            if (probe() is { } value)
            {
                return value;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("timed out waiting for " + what);
            }

            await Task.Delay(50);
        }
    }

    public static async Task UntilAsync(Func<bool> probe, string what, TimeSpan? timeout = null)
    {
        await UntilAsync(() => probe() ? "ok" : null, what, timeout);
    }
}

/// <summary>A growing log file read from a mark (byte offset) on.</summary>
public sealed class LogFile(string path)
{
    public string Path { get; } = path;

    public long Mark() => File.Exists(Path) ? new FileInfo(Path).Length : 0;

    public string ReadSince(long mark)
    {
        if (!File.Exists(Path))
        {
            return string.Empty;
        }

        using var fs = new FileStream(Path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        if (mark > fs.Length)
        {
            mark = 0; // rotated or recreated
        }

        fs.Seek(mark, SeekOrigin.Begin);
        using var reader = new StreamReader(fs, Encoding.UTF8);
        return reader.ReadToEnd();
    }

    public string[] LinesSince(long mark) =>
        ReadSince(mark).Split('\n', StringSplitOptions.RemoveEmptyEntries);

    public Task<string> WaitForLineAsync(long mark, Func<string, bool> match, string what, TimeSpan? timeout = null) =>
        Poll.UntilAsync(() => LinesSince(mark).FirstOrDefault(match), what + " in " + Path, timeout);
}

/// <summary>A maildir's new/ directory (Postfix and Exim both deliver there).</summary>
public sealed class Maildir(string root)
{
    public string NewDir { get; } = System.IO.Path.Combine(root, "new");

    public IReadOnlyList<(string File, byte[] Content)> MessagesContaining(string marker)
    {
        var result = new List<(string, byte[])>();
        if (!Directory.Exists(NewDir))
        {
            return result;
        }

        var needle = Encoding.ASCII.GetBytes(marker);
        foreach (var file in Directory.EnumerateFiles(NewDir))
        {
            byte[] content;
            try
            {
                content = File.ReadAllBytes(file);
            }
            catch (IOException)
            {
                continue;
            }

            if (content.AsSpan().IndexOf(needle) >= 0)
            {
                result.Add((file, content));
            }
        }

        return result;
    }

    public async Task<byte[]> WaitForMessageAsync(string marker, TimeSpan? timeout = null)
    {
        var found = await Poll.UntilAsync(
            () => MessagesContaining(marker) is { Count: > 0 } m ? m[0].Content : null,
            $"a message containing '{marker}' in {NewDir}",
            timeout);
        return found;
    }

    public async Task<IReadOnlyList<(string File, byte[] Content)>> WaitForMessagesAsync(string marker, int count, TimeSpan? timeout = null)
    {
        return await Poll.UntilAsync(
            () => MessagesContaining(marker) is { } m && m.Count >= count ? m : null,
            $"{count} messages containing '{marker}' in {NewDir}",
            timeout);
    }

    /// <summary>The body (after the first empty line) of a stored message, line ends normalised to LF.</summary>
    public static string Body(byte[] message)
    {
        var text = Encoding.Latin1.GetString(message).Replace("\r\n", "\n", StringComparison.Ordinal);
        var i = text.IndexOf("\n\n", StringComparison.Ordinal);
        return i < 0 ? string.Empty : text[(i + 2)..];
    }

    /// <summary>The first header named <paramref name="name"/>, unfolded; null if absent.</summary>
    public static string? FirstHeader(byte[] message, string name)
    {
        var unfolded = Headers(message).Replace("\n\t", " ", StringComparison.Ordinal).Replace("\n ", " ", StringComparison.Ordinal);
        return unfolded.Split('\n').FirstOrDefault(l => l.StartsWith(name + ":", StringComparison.OrdinalIgnoreCase));
    }

    public static string Headers(byte[] message)
    {
        var text = Encoding.Latin1.GetString(message).Replace("\r\n", "\n", StringComparison.Ordinal);
        var i = text.IndexOf("\n\n", StringComparison.Ordinal);
        return i < 0 ? text : text[..i];
    }
}
