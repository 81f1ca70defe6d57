using System.Text;

namespace EarlyPipeProxy.EndToEnd.Tests.Infrastructure;

/// <summary>Options of one `exim.sh send` run (see tests/peers/exim.sh).</summary>
public sealed record EximSendOptions
{
    public string ClientName { get; init; } = "e2e-client";

    public string ToHost { get; init; } = "127.0.0.1";

    public required int ToPort { get; init; }

    public string? Interface { get; init; }

    /// <summary>exim.sh EXIM_NETNS: run the client inside this network namespace.</summary>
    public string? Netns { get; init; }

    public bool PipeConnect { get; init; } = true;

    public bool Chunking { get; init; } = true;

    public bool ResetCache { get; init; }

    /// <summary>exim.sh FAST_OPEN=1: hosts_try_fastopen = * (the early flight in the SYN once the kernel has a cookie).</summary>
    public bool FastOpen { get; init; }

    /// <summary>exim.sh TLS=off|try|require: cleartext only, STARTTLS when offered, or TLS required.</summary>
    public string Tls { get; init; } = "off";

    /// <summary>exim.sh SMTPS=1: TLS on connect (protocol = smtps); implies TLS=require.</summary>
    public bool Smtps { get; init; }

    /// <summary>exim.sh TLS_RESUME=1: tls_resumption_hosts = * (session tickets kept in the client's hints DB).</summary>
    public bool TlsResume { get; init; }

    /// <summary>exim.sh TLS_PRIORITY: GnuTLS priority string (tls_require_ciphers), e.g. NORMAL:-VERS-ALL:+VERS-TLS1.2.</summary>
    public string? TlsPriority { get; init; }
}

/// <summary>What the Exim client logged for the message: "=>"/"->" delivered, "**" failed, "==" deferred.</summary>
public sealed record EximSendResult(ScriptResult Script)
{
    public IReadOnlyList<string> LogLines { get; } =
        Script.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    public bool Delivered => Script.ExitCode == 0;

    public IReadOnlyList<string> DeliveryLines =>
        LogLines.Where(l => l.Contains(" => ", StringComparison.Ordinal) || l.Contains(" -> ", StringComparison.Ordinal)).ToList();

    /// <summary>Exim's +pipelining field on the delivery line: "L*" = early pipelining was used.</summary>
    public bool EarlyPipelined => DeliveryLines.Count > 0 && DeliveryLines.All(l => l.Contains(" L* ", StringComparison.Ordinal));

    /// <summary>Exim's "TFO*" on the delivery line: TCP Fast Open with data, the server acknowledged the flight in the SYN.</summary>
    public bool FastOpenWithData => DeliveryLines.Count > 0 && DeliveryLines.All(l => l.Contains(" TFO* ", StringComparison.Ordinal));

    /// <summary>Exim's "TFO" or "TFO*" on a delivery line: Fast Open was used, with or without data.</summary>
    public bool AnyFastOpen => DeliveryLines.Any(l => l.Contains(" TFO", StringComparison.Ordinal));

    /// <summary>PIPELINING was used but not early pipelining ("L" without "*").</summary>
    public bool PlainPipelined => DeliveryLines.Count > 0 && DeliveryLines.All(l => l.Contains(" L ", StringComparison.Ordinal));

    /// <summary>The +tls_cipher field of the delivery line ("X=TLS1.3:...:256", "*" appended when resumed); null without TLS.</summary>
    public string? TlsCipher =>
        DeliveryLines.Select(l => l.Split(' ').FirstOrDefault(f => f.StartsWith("X=", StringComparison.Ordinal))).FirstOrDefault(f => f is not null);

    public bool UsedTls => DeliveryLines.Count > 0 && DeliveryLines.All(l => l.Contains(" X=", StringComparison.Ordinal));

    /// <summary>+tls_resumption: Exim appends "*" to the X= field when the TLS session was resumed.</summary>
    public bool TlsResumed => TlsCipher is { } x && x.EndsWith('*');

    public override string ToString() => Script.ToString();
}

public static class EximClient
{
    /// <summary>Sends one message (one SMTP connection, foreground delivery) with the Exim client.</summary>
    public static Task<EximSendResult> SendAsync(EximSendOptions options, string message, params string[] recipients) =>
        SendAsync(options, Encoding.ASCII.GetBytes(message), recipients);

    /// <summary>Sends one message given as octets (8-bit text, say), as <see cref="SendAsync(EximSendOptions, string, string[])"/>.</summary>
    public static async Task<EximSendResult> SendAsync(EximSendOptions options, byte[] message, params string[] recipients)
    {
        var env = new Dictionary<string, string>
        {
            ["EXIM_NAME"] = options.ClientName,
            ["TO_HOST"] = options.ToHost,
            ["TO_PORT"] = options.ToPort.ToString(),
            ["PIPE_CONNECT"] = options.PipeConnect ? "1" : "0",
            ["CHUNKING"] = options.Chunking ? "1" : "0",
            ["RESET_CACHE"] = options.ResetCache ? "1" : "0",
            ["FAST_OPEN"] = options.FastOpen ? "1" : "0",
        };
        if (options.Interface is not null)
        {
            env["INTERFACE"] = options.Interface;
        }

        if (options.Netns is not null)
        {
            env["EXIM_NETNS"] = options.Netns;
        }

        env["TLS"] = options.Tls;
        env["SMTPS"] = options.Smtps ? "1" : "0";
        env["TLS_RESUME"] = options.TlsResume ? "1" : "0";
        if (options.TlsPriority is not null)
        {
            env["TLS_PRIORITY"] = options.TlsPriority;
        }

        var r = await PeerScripts.RunAsync("exim.sh", ["send", .. recipients], env, message);
        return new EximSendResult(r);
    }
}

/// <summary>An Exim server instance started by tests/peers/exim.sh, stopped on dispose.</summary>
public sealed class EximServer : IAsyncDisposable
{
    private Dictionary<string, string> _env;

    private EximServer(string name, int port, Dictionary<string, string> env)
    {
        Name = name;
        Port = port;
        _env = env;
        var dir = Path.Combine(Peers.StateDir, "exim-" + name);
        Log = new LogFile(Path.Combine(dir, "log", "mainlog"));
        Maildir = new Maildir(Path.Combine(dir, "mail"));
    }

    public string Name { get; }

    public int Port { get; }

    public LogFile Log { get; }

    public Maildir Maildir { get; }

    /// <summary>Exim 4.96 as built by Debian lists PROXY under "Support for:".</summary>
    public static async Task<bool> SupportsProxyProtocolAsync()
    {
        var psi = new System.Diagnostics.ProcessStartInfo(Peers.EximBinary, ["-C", "/dev/null", "-bV"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var p = System.Diagnostics.Process.Start(psi)!;
        var output = await p.StandardOutput.ReadToEndAsync();
        await p.WaitForExitAsync();
        return output.Split('\n').Any(l => l.StartsWith("Support for:", StringComparison.Ordinal) && l.Split(' ').Contains("PROXY"));
    }

    /// <param name="name">Instance name (directory exim-NAME under the peers' state dir).</param>
    /// <param name="settings">EXIM_* variables of `exim.sh server start`, e.g. EXIM_PIPELINING=0.</param>
    public static async Task<EximServer> StartAsync(string name, IReadOnlyDictionary<string, string> settings)
    {
        var port = Peers.FreePort();
        var env = new Dictionary<string, string>(settings)
        {
            ["EXIM_NAME"] = name,
            ["EXIM_PORT"] = port.ToString(),
        };
        await PeerScripts.RunCheckedAsync("exim.sh", ["server", "stop"], env);
        await PeerScripts.RunCheckedAsync("exim.sh", ["server", "start"], env);
        return new EximServer(name, port, env);
    }

    /// <summary>
    /// Stops this instance and starts it again with other <paramref name="settings"/> on the same name and port (same log,
    /// same maildir): to a client that cached its EHLO reply it is the same server, changed.
    /// </summary>
    public async Task RestartAsync(IReadOnlyDictionary<string, string> settings)
    {
        var env = new Dictionary<string, string>(settings)
        {
            ["EXIM_NAME"] = Name,
            ["EXIM_PORT"] = Port.ToString(),
        };
        await PeerScripts.RunCheckedAsync("exim.sh", ["server", "stop"], _env);
        await PeerScripts.RunCheckedAsync("exim.sh", ["server", "start"], env);
        _env = env;
    }

    public async ValueTask DisposeAsync() => await PeerScripts.RunAsync("exim.sh", ["server", "stop"], _env);
}
