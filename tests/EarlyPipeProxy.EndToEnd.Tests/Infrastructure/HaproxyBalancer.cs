using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using Xunit.Abstractions;

namespace EarlyPipeProxy.EndToEnd.Tests.Infrastructure;

/// <summary>
/// A real HAProxy (Debian's package) in TCP mode on a free loopback port, in the foreground (-db) with a config file of
/// its own in a temporary directory, in front of proxy instances: `send-proxy-v2` to each, health checks on each one's
/// /healthz (its metrics port), `option redispatch` so that a connection an instance refuses goes to another. Its
/// stats socket tells the servers' states. Killed on dispose.
/// </summary>
public sealed class HaproxyBalancer : IAsyncDisposable
{
    public const string Binary = "/usr/sbin/haproxy";

    private readonly Process _process;
    private readonly string _dir;
    private readonly ITestOutputHelper _output;
    private readonly List<string> _log = [];

    private HaproxyBalancer(Process process, string dir, int port, ITestOutputHelper output)
    {
        _process = process;
        _dir = dir;
        Port = port;
        _output = output;
    }

    /// <summary>The front end's port on 127.0.0.1, where clients connect.</summary>
    public int Port { get; }

    public string StatsSocket => Path.Combine(_dir, "stats.sock");

    /// <summary>null when HAProxy can run here, else why not (tests/peers/install.sh installs it).</summary>
    public static string? UnavailableReason() => File.Exists(Binary) ? null : $"{Binary} missing; run tests/peers/install.sh as root";

    /// <summary>Skips the test without HAProxy; under CI=true fails it.</summary>
    public static void Require()
    {
        if (UnavailableReason() is { } reason)
        {
            Skip.If(!Peers.IsCi, reason);
            Assert.Fail("CI=true but " + reason);
        }
    }

    /// <param name="servers">Each instance's SMTP port and metrics port (its health check).</param>
    public static async Task<HaproxyBalancer> StartAsync(ITestOutputHelper output, params (string Name, int SmtpPort, int MetricsPort)[] servers)
    {
        var dir = Directory.CreateTempSubdirectory("earlypipe-haproxy-").FullName;
        var port = Peers.FreePort();
        var config = Path.Combine(dir, "haproxy.cfg");
        var lines = new StringBuilder();
        foreach (var (name, smtpPort, metricsPort) in servers)
        {
            lines.Append(CultureInfo.InvariantCulture, $"  server {name} 127.0.0.1:{smtpPort} check port {metricsPort}\n");
        }

        // The README's example, on test ports; checks every 300 ms so that a stop is seen within the test's patience.
        await File.WriteAllTextAsync(config, $"""
            global
              log stdout format raw local0 info
              stats socket {Path.Combine(dir, "stats.sock")} mode 600 level admin
              maxconn 500

            defaults
              mode tcp
              log global
              option tcplog
              timeout connect 2s
              timeout check 2s
              timeout client 2m
              timeout server 2m
              retries 3
              option redispatch 1

            frontend smtp
              bind 127.0.0.1:{port}
              default_backend earlypipe

            backend earlypipe
              balance roundrobin
              option httpchk GET /healthz
              http-check expect status 200
              default-server send-proxy-v2 inter 300ms fall 1 rise 2
            {lines}
            """);
        var psi = new ProcessStartInfo(Binary)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = dir,
        };
        foreach (var arg in new[] { "-db", "-f", config })
        {
            psi.ArgumentList.Add(arg);
        }

        var process = Process.Start(psi) ?? throw new InvalidOperationException("cannot start " + Binary);
        var balancer = new HaproxyBalancer(process, dir, port, output);
        process.OutputDataReceived += (_, e) => balancer.Append(e.Data);
        process.ErrorDataReceived += (_, e) => balancer.Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        output.WriteLine("haproxy config:\n" + await File.ReadAllTextAsync(config));
        try
        {
            await Poll.UntilAsync(() => process.HasExited ? throw new InvalidOperationException("haproxy exited:\n" + balancer.Log()) : Peers.IsListening(port),
                "haproxy to listen on " + port, TimeSpan.FromSeconds(20));
        }
        catch
        {
            await balancer.DisposeAsync();
            throw;
        }

        return balancer;
    }

    /// <summary>Each server's status as HAProxy sees it now ("UP", "DOWN", "UP 1/2", …), from `show stat` on the stats socket.</summary>
    public async Task<IReadOnlyDictionary<string, string>> ServerStatesAsync()
    {
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(StatsSocket));
        await socket.SendAsync("show stat\n"u8.ToArray());
        var text = new StringBuilder();
        var buffer = new byte[8192];
        int read;
        while ((read = await socket.ReceiveAsync(buffer)) > 0)
        {
            text.Append(Encoding.ASCII.GetString(buffer, 0, read));
        }

        var rows = text.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var header = rows[0].TrimStart('#', ' ').Split(',');
        var name = Array.IndexOf(header, "svname");
        var status = Array.IndexOf(header, "status");
        return rows.Skip(1).Select(r => r.Split(','))
            .Where(f => f.Length > status && f[name] is not ("FRONTEND" or "BACKEND"))
            .ToDictionary(f => f[name], f => f[status]);
    }

    /// <summary>Waits until HAProxy reports <paramref name="server"/> in <paramref name="status"/> ("UP" or "DOWN").</summary>
    public async Task WaitForStatusAsync(string server, string status, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(20));
        while (true)
        {
            var states = await ServerStatesAsync();
            if (states.TryGetValue(server, out var now) && now == status)
            {
                return;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"haproxy did not see {server} {status} (states: {string.Join(", ", states)})\n{Log()}");
            }

            await Task.Delay(100);
        }
    }

    public string Log()
    {
        lock (_log)
        {
            return string.Join('\n', _log);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await PeerProcessEnd.KillAsync(_process);
        try
        {
            _output.WriteLine("--- haproxy output (last lines)\n" + string.Join('\n', Log().Split('\n').TakeLast(40)));
        }
        catch (InvalidOperationException)
        {
        }

        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_log)
        {
            _log.Add(line);
        }
    }
}
