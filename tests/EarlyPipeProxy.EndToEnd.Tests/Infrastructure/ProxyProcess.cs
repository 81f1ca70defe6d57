using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using Xunit.Abstractions;

namespace EarlyPipeProxy.EndToEnd.Tests.Infrastructure;

/// <summary>One inbound listener of the proxy's config (see config JSON "Inbound").</summary>
public sealed record ListenerSpec(string Name, int BackendPort, string ClientIdentity = "Xclient")
{
    public int ListenPort { get; init; } = Peers.FreePort();

    public IReadOnlyList<string> AdvertiseHosts { get; init; } = ["*"];

    public string BackendHost { get; init; } = "127.0.0.1";

    /// <summary>Inbound TLS ("Tls": { CertificatePath, KeyPath }); null = cleartext only (no STARTTLS offered).</summary>
    public TlsMaterial? Tls { get; init; }

    /// <summary>"ImplicitTls": true makes the listener TLS-on-connect (port-465 style); needs <see cref="Tls"/>.</summary>
    public bool ImplicitTls { get; init; }

    /// <summary>Backend "Tls" ("None" or "StartTls"); null leaves the proxy's default.</summary>
    public string? BackendTls { get; init; }

    /// <summary>
    /// Backend "VerifyCertificate"; null means false when <see cref="BackendTls"/> is set (the harness's backends use
    /// the test CA, which the system store does not know) and the proxy's default otherwise.
    /// </summary>
    public bool? BackendVerifyCertificate { get; init; }

    /// <summary>Backend "TrustedCaPath": PEM CA certificates anchoring the backend's chain; null = the system store.</summary>
    public string? BackendTrustedCaPath { get; init; }

    /// <summary>Backend "TlsServerName"; null leaves the proxy's default (the host of the backend address).</summary>
    public string? BackendTlsServerName { get; init; }

    /// <summary>"Limits": { "MaxConnections" }; null leaves the proxy's default.</summary>
    public int? MaxConnections { get; init; }

    /// <summary>False for a listener the proxy is expected not to open (its certificate does not load): start-up does not wait for it.</summary>
    public bool ExpectListening { get; init; } = true;

    /// <summary>"Timeouts": { "Command" }; null leaves the harness's one minute.</summary>
    public TimeSpan? CommandTimeout { get; init; }

    /// <summary>"Timeouts": { "Data" }; null leaves the proxy's default.</summary>
    public TimeSpan? DataTimeout { get; init; }

    /// <summary>"Limits": { "MaxConnectionsPerAddress" }; null leaves the proxy's default.</summary>
    public int? MaxConnectionsPerAddress { get; init; }

    /// <summary>"Limits": { "MaxConnectionsPerAddressPerMinute" }; null leaves the proxy's default.</summary>
    public int? MaxConnectionsPerAddressPerMinute { get; init; }

    /// <summary>"Limits": { "AddressLimitExceptions" }; null leaves the proxy's default (loopback, which every test client is).</summary>
    public IReadOnlyList<string>? AddressLimitExceptions { get; init; }

    /// <summary>The address part of "Listen".</summary>
    public string ListenHost { get; init; } = "127.0.0.1";

    /// <summary>Backend "LookupClientName" (XCLIENT NAME=/REVERSE_NAME=); off in the harness unless a test is about names.</summary>
    public bool LookupClientName { get; init; }

    /// <summary>"Timeouts": { "ClientNameLookup" }; null leaves the proxy's default.</summary>
    public TimeSpan? ClientNameLookupTimeout { get; init; }

    /// <summary>"Trace": { "Clients" }: the client addresses whose sessions are traced; null leaves tracing off.</summary>
    public IReadOnlyList<string>? TraceClients { get; init; }

    /// <summary>"AcceptProxyHeaderFrom": the load balancers whose PROXY header is read; null leaves none.</summary>
    public IReadOnlyList<string>? AcceptProxyHeaderFrom { get; init; }

    /// <summary>"Transparent": true: the listening socket takes TPROXY-diverted connections (IP_TRANSPARENT).</summary>
    public bool Transparent { get; init; }

    /// <summary>"FastOpen": TCP Fast Open on the listening socket; null leaves the proxy's default (on).</summary>
    public bool? FastOpen { get; init; }
}

/// <summary>
/// The proxy as a subprocess: `dotnet earlypipe.dll run --config FILE`. Its stdout/stderr are captured and
/// written into the test output when it is disposed. With outbound listeners the config also names the EHLO cache's
/// LiteDB file (by default in this proxy's temp dir, which lives until dispose, so a test can look at it, or hand it
/// to a second proxy, after <see cref="StopAsync()"/>).
/// </summary>
public sealed class ProxyProcess : IAsyncDisposable
{
    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
    };
    private readonly Process _process;
    private readonly ITestOutputHelper _output;
    private readonly ConcurrentQueue<string> _lines = new();
    private readonly string _tempDir;

    private ProxyProcess(
        Process process,
        ITestOutputHelper output,
        string tempDir,
        string configPath,
        IReadOnlyList<ListenerSpec> listeners,
        IReadOnlyList<OutboundListenerSpec> outboundListeners,
        string? ehloCachePath)
    {
        _process = process;
        _output = output;
        _tempDir = tempDir;
        ConfigPath = configPath;
        Listeners = listeners;
        OutboundListeners = outboundListeners;
        EhloCachePath = ehloCachePath;
    }

    public IReadOnlyList<ListenerSpec> Listeners { get; }

    public IReadOnlyList<OutboundListenerSpec> OutboundListeners { get; }

    /// <summary>"EhloCache": { "DatabasePath" } as written into the config; null when the proxy has no outbound listener.</summary>
    public string? EhloCachePath { get; }

    /// <summary>The proxy's per-session lines of its outbound listeners (for the test output; tests prove things from the peers' logs).</summary>
    public IReadOnlyList<string> OutboundSessionLines =>
        _lines.Where(l => l.Contains(" outbound ", StringComparison.Ordinal)).ToArray();

    public IReadOnlyList<string> OutputLines => _lines.ToArray();

    /// <summary>The proxy's process id (the `dotnet` host runs it in-process), e.g. for `kill -HUP`.</summary>
    public int ProcessId => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>The config file the proxy was started with (deleted with the proxy's temporary directory).</summary>
    public string ConfigPath { get; }

    public static Task<ProxyProcess> StartAsync(ITestOutputHelper output, params ListenerSpec[] listeners) =>
        StartAsync(output, listeners, [], ehloCachePath: null);

    /// <summary>
    /// With more top-level config sections next to "Inbound" (e.g. "EhloCache", "Control", "Metrics", or an
    /// "Outbound" written by the test itself), each serialized as given.
    /// </summary>
    public static Task<ProxyProcess> StartAsync(ITestOutputHelper output, IReadOnlyDictionary<string, object> sections, params ListenerSpec[] listeners) =>
        StartAsync(output, listeners, [], ehloCachePath: null, sections);

    /// <summary>A proxy with outbound listeners only; its EHLO cache file is ehlo-cache.db in the proxy's temp dir.</summary>
    public static Task<ProxyProcess> StartOutboundAsync(ITestOutputHelper output, params OutboundListenerSpec[] outbound) =>
        StartAsync(output, [], outbound, ehloCachePath: null);

    /// <summary>
    /// A proxy with outbound listeners only, on the EHLO cache file <paramref name="ehloCachePath"/>: e.g. the
    /// <see cref="EhloCachePath"/> of an earlier proxy that was stopped, to see the cache survive a restart.
    /// </summary>
    public static Task<ProxyProcess> StartOutboundAsync(ITestOutputHelper output, string ehloCachePath, params OutboundListenerSpec[] outbound) =>
        StartAsync(output, [], outbound, ehloCachePath);

    /// <param name="ehloCachePath">The EHLO cache's LiteDB file; null = ehlo-cache.db in this proxy's temp dir. Only written with outbound listeners.</param>
    /// <param name="sections">More top-level sections, serialized as given; the listener specs' sections win.</param>
    /// <param name="netns">Run the proxy inside this network namespace (with its /etc/netns files); its listeners are checked there.</param>
    public static async Task<ProxyProcess> StartAsync(
        ITestOutputHelper output,
        IReadOnlyList<ListenerSpec> listeners,
        IReadOnlyList<OutboundListenerSpec> outbound,
        string? ehloCachePath,
        IReadOnlyDictionary<string, object>? sections = null,
        NetworkNamespace? netns = null)
    {
        sections ??= new Dictionary<string, object>();
        var dll = Path.Combine(AppContext.BaseDirectory, "earlypipe.dll");
        if (!File.Exists(dll))
        {
            throw new FileNotFoundException("the proxy host is not in the test output directory", dll);
        }

        if (listeners.Count + outbound.Count == 0 && !sections.ContainsKey("Outbound"))
        {
            throw new ArgumentException("a proxy needs at least one listener");
        }

        var tempDir = Directory.CreateTempSubdirectory("earlypipe-e2e-").FullName;
        if (outbound.Count > 0)
        {
            ehloCachePath ??= Path.Combine(tempDir, "ehlo-cache.db");
        }
        else
        {
            ehloCachePath = null;
        }

        // Inbound-only configs stay exactly as before: no "Outbound" or "EhloCache" keys unless a section adds them.
        var config = new Dictionary<string, object>(sections);
        if (ehloCachePath is not null)
        {
            config["EhloCache"] = new { DatabasePath = ehloCachePath };
        }

        if (outbound.Count > 0)
        {
            config["Outbound"] = outbound.Select(o => new
            {
                o.Name,
                Listen = $"127.0.0.1:{o.ListenPort}",
                o.Upstream,
                o.EarlyPipelining,
                o.HeloName,
                Tls = o.TlsMode is null && o.VerifyCertificate is null && o.TrustedCaPath is null
                    ? null
                    : new { Mode = o.TlsMode, o.VerifyCertificate, o.TrustedCaPath },
                Timeouts = new { Command = "00:01:00" },
                Trace = o.TraceClients is null ? null : new { Clients = o.TraceClients },
                ConnectionCache = new { Enabled = o.ConnectionCache, IdleTimeout = o.ConnectionCacheIdleTimeout },
            }).ToArray();
        }

        if (listeners.Count > 0)
        {
            config["Inbound"] = listeners.Select(l => new
            {
                l.Name,
                Listen = $"{l.ListenHost}:{l.ListenPort}",
                Backend = new
                {
                    Address = $"{l.BackendHost}:{l.BackendPort}",
                    l.ClientIdentity,
                    l.LookupClientName,
                    Tls = l.BackendTls,
                    VerifyCertificate = l.BackendVerifyCertificate ?? (l.BackendTls is null ? (bool?)null : false),
                    TrustedCaPath = l.BackendTrustedCaPath,
                    TlsServerName = l.BackendTlsServerName,
                },
                PipeConnect = new { l.AdvertiseHosts, Keyword = "PIPECONNECT" },
                Timeouts = new
                {
                    Command = (l.CommandTimeout ?? TimeSpan.FromMinutes(1)).ToString("c", System.Globalization.CultureInfo.InvariantCulture),
                    Data = l.DataTimeout?.ToString("c", System.Globalization.CultureInfo.InvariantCulture),
                    ClientNameLookup = l.ClientNameLookupTimeout?.ToString("c", System.Globalization.CultureInfo.InvariantCulture),
                },
                Limits = l.MaxConnections is null && l.MaxConnectionsPerAddress is null && l.MaxConnectionsPerAddressPerMinute is null
                    && l.AddressLimitExceptions is null
                    ? null
                    : new { l.MaxConnections, l.MaxConnectionsPerAddress, l.MaxConnectionsPerAddressPerMinute, l.AddressLimitExceptions },
                Tls = l.Tls is null ? null : new { l.Tls.CertificatePath, l.Tls.KeyPath },
                ImplicitTls = l.ImplicitTls ? true : (bool?)null,
                Trace = l.TraceClients is null ? null : new { Clients = l.TraceClients },
                l.AcceptProxyHeaderFrom,
                Transparent = l.Transparent ? true : (bool?)null,
                l.FastOpen,
            }).ToArray();
        }

        var configFile = Path.Combine(tempDir, "earlypipe.json");
        var json = JsonSerializer.Serialize(config, JsonOptions);
        await File.WriteAllTextAsync(configFile, json);

        var psi = new ProcessStartInfo(netns is null ? "dotnet" : "ip")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = tempDir,
        };
        if (netns is not null)
        {
            // ip execs the command in place, so the process (and its pid) is the proxy's own.
            foreach (var arg in (string[])["netns", "exec", netns.Name, "dotnet"])
            {
                psi.ArgumentList.Add(arg);
            }
        }

        // The proxy reads EARLYPIPE__* overrides from its environment; the test's config file must be all it sees.
        foreach (var inherited in psi.Environment.Keys.Where(k => k.StartsWith("EARLYPIPE__", StringComparison.Ordinal)).ToList())
        {
            psi.Environment.Remove(inherited);
        }

        psi.ArgumentList.Add(dll);
        psi.ArgumentList.Add("run");
        psi.ArgumentList.Add("--config");
        psi.ArgumentList.Add(configFile);
        var process = Process.Start(psi) ?? throw new InvalidOperationException("cannot start dotnet");
        var proxy = new ProxyProcess(process, output, tempDir, configFile, listeners, outbound, ehloCachePath);
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) { proxy._lines.Enqueue(e.Data); } };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { proxy._lines.Enqueue("stderr: " + e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        output.WriteLine("proxy config:\n" + json);

        try
        {
            if (netns is not null)
            {
                await WaitForListenersInNamespaceAsync(netns, proxy, listeners);
                return proxy;
            }

            await Poll.UntilAsync(
                () => process.HasExited
                    ? throw new InvalidOperationException($"the proxy exited with {process.ExitCode}:\n{string.Join('\n', proxy._lines)}")
                    : listeners.Where(l => l.ExpectListening).Select(l => l.ListenPort).Concat(outbound.Select(o => o.ListenPort)).All(Peers.IsListening),
                "the proxy to listen on " + string.Join(", ", listeners.Select(l => l.ListenPort).Concat(outbound.Select(o => o.ListenPort))),
                TimeSpan.FromSeconds(30));
        }
        catch
        {
            await proxy.DisposeAsync();
            throw;
        }

        return proxy;
    }

    private static async Task WaitForListenersInNamespaceAsync(NetworkNamespace netns, ProxyProcess proxy, IReadOnlyList<ListenerSpec> listeners)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        foreach (var l in listeners)
        {
            while (true)
            {
                if (proxy.HasExited)
                {
                    throw new InvalidOperationException($"the proxy exited:\n{string.Join('\n', proxy._lines)}");
                }

                // bash's /dev/tcp takes an IPv6 address without the brackets of "Listen".
                var probe = await netns.ExecAsync(["bash", "-c", $"exec 3<>/dev/tcp/{l.ListenHost.Trim('[', ']')}/{l.ListenPort}"]);
                if (probe.ExitCode == 0)
                {
                    break;
                }

                if (DateTime.UtcNow > deadline)
                {
                    throw new TimeoutException($"the proxy did not listen on {l.ListenHost}:{l.ListenPort} in namespace {netns.Name}");
                }

                await Task.Delay(100);
            }
        }
    }

    public ListenerSpec this[string name] => Listeners.Single(l => l.Name == name);

    public OutboundListenerSpec Outbound(string name) => OutboundListeners.Single(o => o.Name == name);

    /// <summary>
    /// Stops the proxy the way an operator does (SIGTERM: graceful shutdown, the EHLO cache closed cleanly) and waits for
    /// it to exit; SIGKILL after <paramref name="timeout"/> (default 45 s, more than its 30 s ShutdownTimeout). The temp
    /// dir, and with it the default EHLO cache file, stays until dispose.
    /// </summary>
    public async Task StopAsync(TimeSpan? timeout = null)
    {
        if (_process.HasExited)
        {
            return;
        }

        using (var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
        {
            await kill!.WaitForExitAsync();
        }

        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(45));
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
            throw new TimeoutException("the proxy did not stop after SIGTERM; killed");
        }
    }

    /// <summary>Waits for a proxy log line (only for tests where the proxy's L field is the point).</summary>
    public Task<string> WaitForOutputAsync(Func<string, bool> match, string what) =>
        Poll.UntilAsync(() => _lines.FirstOrDefault(match), "proxy output: " + what, TimeSpan.FromSeconds(10));

    /// <summary>
    /// The proxy's session line for a connection whose client early-pipelined (its own log says L*). The proxy says
    /// L* when the input was there before it wrote the banner, which is the usual case; a client slow to write its
    /// flight after connecting can lose that race without noticing (Exim's own server has the same one), and then
    /// the proxy honestly says L. (offered, input not seen before the banner). Either way the keyword was offered.
    /// </summary>
    public Task<string> WaitForEarlySessionLineAsync(string alsoContaining = "") =>
        WaitForOutputAsync(
            l => l.Contains(" session ", StringComparison.Ordinal) && (l.Contains(" L*", StringComparison.Ordinal) || l.Contains(" L.", StringComparison.Ordinal))
                && l.Contains(alsoContaining, StringComparison.Ordinal),
            "a session line with L* (or L.) " + alsoContaining);

    /// <summary>Stops the proxy the way an init system does (SIGTERM) and waits for it to exit: a graceful stop.</summary>
    public async Task<int> StopAsync()
    {
        using (var kill = Process.Start(new ProcessStartInfo("kill", ["-TERM", ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture)])
        {
            UseShellExecute = false,
        }) ?? throw new InvalidOperationException("cannot run kill"))
        {
            await kill.WaitForExitAsync();
        }

        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await _process.WaitForExitAsync(limit.Token);
        return _process.ExitCode;
    }

    /// <summary>Sends <paramref name="signal"/> (e.g. "TERM") to the proxy and returns at once, without waiting for it to exit.</summary>
    public async Task SignalAsync(string signal)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", ["-" + signal, ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture)])
        {
            UseShellExecute = false,
        }) ?? throw new InvalidOperationException("cannot run kill");
        await kill.WaitForExitAsync();
    }

    /// <summary>Waits for the proxy to exit on its own; its exit code, or null when it is still running after <paramref name="timeout"/>.</summary>
    public async Task<int?> WaitForExitAsync(TimeSpan timeout)
    {
        using var limit = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            return null;
        }

        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }

            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (Exception e) when (e is InvalidOperationException or OperationCanceledException)
        {
        }

        try
        {
            _output.WriteLine("--- proxy output");
            foreach (var line in _lines)
            {
                _output.WriteLine(line);
            }
        }
        catch (InvalidOperationException)
        {
            // no active test to write to
        }

        _process.Dispose();
        try
        {
            Directory.Delete(_tempDir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
