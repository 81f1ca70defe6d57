using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using Xunit.Abstractions;

namespace EarlyPipeProxy.EndToEnd.Tests.Infrastructure;

/// <summary>
/// The proxy started the way systemd starts a Type=notify service, without systemd (this machine has no systemd
/// running as PID 1): a Unix datagram socket named in NOTIFY_SOCKET receives its sd_notify messages, JOURNAL_STREAM
/// is set as for output to the journal, and, with <c>asChildOfSystemd</c>, its parent process is called
/// <c>systemd</c>. That is what Microsoft.Extensions.Hosting.Systemd looks at (/proc/PPID/comm) to decide it runs
/// under systemd; the parent is a copy of bash under that name, which starts the proxy and waits for it. Everything
/// else (the notify protocol, the log lines, the signals) is the real thing. The proxy has one inbound listener whose
/// backend port is closed, so a connection makes a warning and a session line without any peer.
/// </summary>
public sealed class ServiceManagerStandIn : IAsyncDisposable
{
    private readonly Process _process;
    private readonly Socket _notifySocket;
    private readonly ITestOutputHelper _output;
    private readonly string _tempDir;
    private readonly ConcurrentQueue<string> _lines = new();
    private readonly TaskCompletionSource<int> _proxyPid = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private ServiceManagerStandIn(Process process, Socket notifySocket, ITestOutputHelper output, string tempDir, int listenPort)
    {
        _process = process;
        _notifySocket = notifySocket;
        _output = output;
        _tempDir = tempDir;
        ListenPort = listenPort;
    }

    public int ListenPort { get; }

    /// <summary>The proxy's standard output and error ("stderr: " in front), lines as written.</summary>
    public IReadOnlyList<string> OutputLines => _lines.ToArray();

    /// <param name="asChildOfSystemd">Start the proxy from a parent process named systemd (else from this test process).</param>
    /// <param name="journalStream">JOURNAL_STREAM's value ("device:inode" of the journal's stream); null leaves it unset.</param>
    public static async Task<ServiceManagerStandIn> StartAsync(ITestOutputHelper output, bool asChildOfSystemd, string? journalStream)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "earlypipe.dll");
        var tempDir = Directory.CreateTempSubdirectory("earlypipe-notify-").FullName;
        var listenPort = Peers.FreePort();
        var configPath = Path.Combine(tempDir, "earlypipe.json");
        await File.WriteAllTextAsync(configPath, $$"""
            { "Inbound": [ { "Name": "smtp", "Listen": "127.0.0.1:{{listenPort}}",
                "Backend": { "Address": "127.0.0.1:{{Peers.FreePort()}}", "ClientIdentity": "Xclient", "LookupClientName": false },
                "Timeouts": { "BackendConnect": "00:00:05" } } ],
              "ShutdownTimeout": "00:00:10" }
            """);

        var notifyPath = Path.Combine(tempDir, "notify");
        var notifySocket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        notifySocket.Bind(new UnixDomainSocketEndPoint(notifyPath));

        ProcessStartInfo psi;
        if (asChildOfSystemd)
        {
            var standIn = Path.Combine(tempDir, "systemd");
            File.Copy("/bin/bash", standIn);
#pragma warning disable CA1416 // The proxy (and systemd) run on Linux only.
            File.SetUnixFileMode(standIn, UnixFileMode.UserRead | UnixFileMode.UserExecute);
#pragma warning restore CA1416
            psi = new ProcessStartInfo(standIn);
            // "$@" in the background, so that bash stays the parent; it says the proxy's pid first, then waits for it and
            // exits with its status. set -m (job control): without it bash starts a background command with SIGINT and
            // SIGQUIT ignored, which systemd never does (it resets every signal to its default for a service).
            foreach (var arg in (string[])["-c", "set -m; \"$@\" & proxy=$!; echo \"proxy-pid $proxy\"; wait $proxy", "systemd", "dotnet", dll])
            {
                psi.ArgumentList.Add(arg);
            }
        }
        else
        {
            psi = new ProcessStartInfo("dotnet");
            psi.ArgumentList.Add(dll);
        }

        foreach (var arg in (string[])["run", "--config", configPath])
        {
            psi.ArgumentList.Add(arg);
        }

        psi.RedirectStandardOutput = true;
        psi.RedirectStandardError = true;
        psi.UseShellExecute = false;
        psi.WorkingDirectory = tempDir;
        foreach (var inherited in psi.Environment.Keys.Where(k => k.StartsWith("EARLYPIPE__", StringComparison.Ordinal) || k == "JOURNAL_STREAM").ToList())
        {
            psi.Environment.Remove(inherited);
        }

        psi.Environment["NOTIFY_SOCKET"] = notifyPath;
        if (journalStream is not null)
        {
            psi.Environment["JOURNAL_STREAM"] = journalStream;
        }

        var process = Process.Start(psi) ?? throw new InvalidOperationException("cannot start " + psi.FileName);
        var service = new ServiceManagerStandIn(process, notifySocket, output, tempDir, listenPort);
        if (!asChildOfSystemd)
        {
            service._proxyPid.SetResult(process.Id);
        }

        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                return;
            }

            if (e.Data.StartsWith("proxy-pid ", StringComparison.Ordinal))
            {
                service._proxyPid.TrySetResult(int.Parse(e.Data["proxy-pid ".Length..], System.Globalization.CultureInfo.InvariantCulture));
                return;
            }

            service._lines.Enqueue(e.Data);
        };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { service._lines.Enqueue("stderr: " + e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return service;
    }

    /// <summary>The proxy's own process id (the stand-in's child, or the process started).</summary>
    public Task<int> ProxyPidAsync() => _proxyPid.Task.WaitAsync(TimeSpan.FromSeconds(30));

    /// <summary>The name of the proxy's parent process, as /proc/PPID/comm says it (what the systemd detection reads).</summary>
    public async Task<string> ParentProcessNameAsync()
    {
        var pid = await ProxyPidAsync();
        var ppid = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("PPid:", StringComparison.Ordinal))["PPid:".Length..].Trim();
        return (await File.ReadAllTextAsync($"/proc/{ppid}/comm")).TrimEnd('\n');
    }

    /// <summary>The next sd_notify datagram, or null when none arrives within <paramref name="timeout"/>.</summary>
    public async Task<string?> ReceiveNotificationAsync(TimeSpan timeout)
    {
        var buffer = new byte[4096];
        using var limit = new CancellationTokenSource(timeout);
        try
        {
            var length = await _notifySocket.ReceiveAsync(buffer, SocketFlags.None, limit.Token);
            var text = Encoding.UTF8.GetString(buffer, 0, length);
            _output.WriteLine("sd_notify: " + text);
            return text;
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }

    /// <summary>Datagrams already waiting on the notify socket (none are read).</summary>
    public int PendingNotificationBytes => _notifySocket.Available;

    public async Task SignalAsync(string signal)
    {
        var pid = await ProxyPidAsync();
        using var kill = Process.Start(new ProcessStartInfo("kill", ["-" + signal, pid.ToString(System.Globalization.CultureInfo.InvariantCulture)])
        {
            UseShellExecute = false,
        }) ?? throw new InvalidOperationException("cannot run kill");
        await kill.WaitForExitAsync();
    }

    /// <summary>The exit status of the process started (the stand-in passes on the proxy's).</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var limit = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(limit.Token);
        return _process.ExitCode;
    }

    public Task<string> WaitForOutputAsync(Func<string, bool> match, string what) =>
        Poll.UntilAsync(() => _lines.FirstOrDefault(match), "proxy output: " + what, TimeSpan.FromSeconds(30));

    public async ValueTask DisposeAsync()
    {
        await PeerProcessEnd.KillAsync(_process);
        _output.WriteLine("proxy output:\n" + string.Join('\n', _lines));
        _notifySocket.Dispose();
        try
        {
            Directory.Delete(_tempDir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
