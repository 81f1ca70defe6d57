using System.Diagnostics.Metrics;
using System.Runtime.InteropServices;
using EarlyPipeProxy.Host.Configuration;
using EarlyPipeProxy.Host.Telemetry;
using EarlyPipeProxy.Sessions.Configuration;
using EarlyPipeProxy.Sessions.Telemetry;
using EarlyPipeProxy.Sessions.Tls;

namespace EarlyPipeProxy.Host.Hosting;

/// <summary>
/// SIGHUP: reads the configuration again and applies what can change without a restart, without dropping a session;
/// certificate files that change on disk are reloaded on their own. New sessions take the new settings, sessions in
/// flight keep the ones they started with (<see cref="InboundListener.Settings"/>). What needs a restart (a listener's
/// address or name, listeners added or removed, the metrics endpoint, the EHLO cache, the control socket...) is logged
/// as such and the rest still applies; a configuration that does not load or check is logged, one line a problem,
/// and the running one stays (its certificates are still reloaded). Also says, at start and on every reload, which
/// certificates are out of their dates, and which listeners were not opened because theirs did not load.
/// An inbound listener's load balancers (AcceptProxyHeaderFrom, RequireProxyHeader, Timeouts:ProxyHeader) need no
/// restart: they are settings like the others, and each connection reads them once, when it is accepted.
/// Neither does an outbound listener's ConnectionCache: its parked connections live on the listener across reloads and
/// every value is read when used (connections parked from then on); a connection is reused only under the TLS policy
/// it was parked under, so a new Tls section never inherits an old one's connection.
/// </summary>
public sealed partial class ConfigurationReloader(
    string configPath,
    IConfiguration configuration,
    IReadOnlyList<InboundListener> inbound,
    IReadOnlyList<OutboundListener> outbound,
    HealthState health,
    ProxyMetrics metrics,
    TimeProvider time,
    ILogger<ConfigurationReloader> logger)
    : IHostedService, IDisposable
{
    /// <summary>Top-level keys read once at start: a change is logged as needing a restart.</summary>
    private static readonly string[] RestartSections = ["Metrics", "EhloCache", "Control", "ClientNameLookup", "ShutdownTimeout"];

    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(1);

    private readonly Lock _reloading = new();
    private readonly List<FileSystemWatcher> _watchers = [];
    private Dictionary<string, string>? _startValues;
    private PosixSignalRegistration? _hangup;
    private Timer? _debounce;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _startValues = RestartValues(configuration);
        foreach (var (name, problem) in ListenerProblems())
        {
            LogListenerNotOpened(logger, name, problem);
            health.SetListenerProblem(name, problem);
        }

        LogCertificateDates();
        metrics.ObserveCertificates(CertificateExpiries);
        _debounce = new Timer(_ => ReloadCertificates("file change"));
        WatchCertificateFiles();

        // Always: without a handler the runtime's default for SIGHUP ends the process.
        _hangup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, context =>
        {
            context.Cancel = true;
            _ = Task.Run(() => Reload("SIGHUP"));
        });
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Dispose()
    {
        _hangup?.Dispose();
        lock (_reloading)
        {
            DisposeWatchers();
        }

        _debounce?.Dispose();
    }

    /// <summary>Reads and checks the configuration again and applies it; the running one stays when it does not check.</summary>
    public void Reload(string reason)
    {
        lock (_reloading)
        {
            try
            {
                ReloadLocked(reason);
            }
#pragma warning disable CA1031 // A reload must never take the process down; the running configuration stays.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                LogReloadProblem(logger, $"{ex.GetType().Name}: {ex.Message}");
                LogReloadRejected(logger, configPath, reason, 1);
            }
        }
    }

    private void ReloadLocked(string reason)
    {
        var problems = new List<string>();
        var candidate = ReadCandidate(problems);
        try
        {
            var options = candidate is null ? null : LoadOptions(candidate, problems);
            var restarts = new List<string>();
            var plan = options is null ? null : Check(options, candidate!, problems, restarts);
            if (plan is null || problems.Count > 0)
            {
                foreach (var problem in problems)
                {
                    LogReloadProblem(logger, problem);
                }

                LogReloadRejected(logger, configPath, reason, problems.Count);
                ReloadCertificatesLocked(reason);
                return;
            }

            foreach (var restart in restarts)
            {
                LogNeedsRestart(logger, restart);
            }

            // The live configuration too, for what reads it through change tokens: the Logging section's levels. (A file
            // rewritten again since the candidate was read lends its levels here; its listeners wait for the next SIGHUP.)
            (configuration as IConfigurationRoot)?.Reload();
            Apply(plan, reason);
            DisposeWatchers();
            WatchCertificateFiles();
            LogCertificateDates();
            LogReloaded(logger, configPath, reason, restarts.Count);
        }
        finally
        {
            (candidate as IDisposable)?.Dispose();
        }
    }

    /// <summary>
    /// The configuration as the process would read it now: the same sources (file, environment, command line) built
    /// afresh, so that the live one is only touched once the new one has checked. Null, with the problem, when the file
    /// is missing or not JSON.
    /// </summary>
    private IConfigurationRoot? ReadCandidate(List<string> problems)
    {
        if (configuration is not IConfigurationBuilder sources)
        {
            problems.Add("the configuration's sources are not known; nothing re-read");
            return null;
        }

        var builder = new ConfigurationBuilder();
        foreach (var source in sources.Sources)
        {
            builder.Add(source);
        }

        try
        {
            return builder.Build();
        }
        catch (Exception ex) when (ex is InvalidDataException or IOException or FormatException or UnauthorizedAccessException)
        {
            problems.Add(ex.InnerException is { } inner ? $"{ex.Message} {inner.Message}" : ex.Message);
            return null;
        }
    }

    /// <summary>
    /// The one place a reload binds the options from the configuration, with the start's checks of keys and values
    /// (<see cref="ConfigurationLoader"/>): a misspelt key in a reloaded file is a problem, not a silent default.
    /// </summary>
    private EarlyPipeOptions? LoadOptions(IConfigurationRoot candidate, List<string> problems)
    {
        var found = ConfigurationKeyChecker.UnknownKeys(candidate, typeof(EarlyPipeOptions), ConfigurationLoader.OtherSections, configPath)
            .Concat(ConfigurationKeyChecker.BadValues(candidate, typeof(EarlyPipeOptions), ConfigurationLoader.OtherSections, configPath))
            .Select(problem => problem.ToString())
            .ToList();
        if (found.Count > 0)
        {
            problems.AddRange(found);
            return null;
        }

        try
        {
            return candidate.Get<EarlyPipeOptions>() ?? new EarlyPipeOptions();
        }
        catch (InvalidOperationException ex)
        {
            problems.Add(ex.InnerException is { } inner ? $"{ex.Message} {inner.Message}" : ex.Message);
            return null;
        }
    }

    /// <summary>
    /// New settings for every running listener, checked (each problem added), with what needs a restart put back to
    /// the running value and added to <paramref name="restarts"/>. Null when nothing can be applied.
    /// </summary>
    private ReloadPlan? Check(EarlyPipeOptions options, IConfiguration candidate, List<string> problems, List<string> restarts)
    {
        foreach (var key in ChangedKeys(_startValues ?? [], RestartValues(candidate)))
        {
            restarts.Add($"{key} changed");
        }

        if (options.Inbound.Length != inbound.Count)
        {
            restarts.Add($"Inbound listeners added or removed ({inbound.Count} running, {options.Inbound.Length} configured)");
        }

        if (options.Outbound.Length != outbound.Count)
        {
            restarts.Add($"Outbound listeners added or removed ({outbound.Count} running, {options.Outbound.Length} configured)");
        }

        var plan = new ReloadPlan();
        for (var i = 0; i < Math.Min(options.Inbound.Length, inbound.Count); i++)
        {
            var change = CheckInbound(i, inbound[i], options.Inbound[i], problems, restarts);
            if (change is not null)
            {
                plan.Inbound.Add(change);
            }
        }

        for (var i = 0; i < Math.Min(options.Outbound.Length, outbound.Count); i++)
        {
            var change = CheckOutbound(i, outbound[i], options.Outbound[i], problems, restarts);
            if (change is not null)
            {
                plan.Outbound.Add(change);
            }
        }

        return problems.Count == 0 ? plan : null;
    }

    private static InboundChange? CheckInbound(int index, InboundListener live, InboundListenerOptions next, List<string> problems, List<string> restarts)
    {
        var running = live.Options;
        var key = $"Inbound:{index}";
        next.Name = KeepRunning(restarts, key + ":Name", running.Name, next.Name);
        next.Listen = KeepRunning(restarts, key + ":Listen", running.Listen, next.Listen);
        next.Backend.Address = KeepRunning(restarts, key + ":Backend:Address", running.Backend.Address, next.Backend.Address);
        next.Transparent = KeepRunning(restarts, key + ":Transparent", running.Transparent, next.Transparent);
        next.FastOpen = KeepRunning(restarts, key + ":FastOpen", running.FastOpen, next.FastOpen);
        next.FastOpenQueueLength = KeepRunning(restarts, key + ":FastOpenQueueLength", running.FastOpenQueueLength, next.FastOpenQueueLength);
        if (live.Problem is not null)
        {
            restarts.Add($"{key} ({live.Name}) was not opened at start ({live.Problem}), opening it");
        }

        var certificates = NextCertificates(live.Certificates, next.Tls, out var inPlace, out var failure);
        if (certificates is null && failure is not null && next.ImplicitTls && live.Problem is null)
        {
            problems.Add($"Inbound listener '{next.Name}': ImplicitTls, and its {failure}");
            return null;
        }

        try
        {
            return new InboundChange(live, new InboundListenerSettings(next, live.ClientNames, certificates), inPlace, failure);
        }
        catch (Exception ex) when (ex is FormatException || ServerCertificateProvider.IsLoadFailure(ex))
        {
            problems.Add(ex.Message);
            return null;
        }
    }

    private static OutboundChange? CheckOutbound(int index, OutboundListener live, OutboundListenerOptions next, List<string> problems, List<string> restarts)
    {
        var running = live.Options;
        var key = $"Outbound:{index}";
        next.Name = KeepRunning(restarts, key + ":Name", running.Name, next.Name);
        next.Listen = KeepRunning(restarts, key + ":Listen", running.Listen, next.Listen);
        if (!string.Equals(running.Upstream, next.Upstream, StringComparison.OrdinalIgnoreCase) || running.UseOriginalDestination != next.UseOriginalDestination)
        {
            // Health probes the fixed upstream found at start, and the loop check knows the listeners opened then.
            restarts.Add($"{key}:Upstream or {key}:UseOriginalDestination changed");
            next.Upstream = running.Upstream;
            next.UseOriginalDestination = running.UseOriginalDestination;
        }

        if (live.Problem is not null)
        {
            restarts.Add($"{key} ({live.Name}) was not opened at start ({live.Problem}), opening it");
        }

        // The rest applies at once, Tls included (its Mode, OnConnect too): sessions and the fixed upstream's probe take
        // the settings when they start, and the EHLO cache keeps each TLS phase's entry apart.
        var certificates = NextCertificates(live.SenderCertificates, next.SenderTls, out var inPlace, out var failure);
        try
        {
            return new OutboundChange(live, new OutboundListenerSettings(next, certificates), inPlace, failure);
        }
        catch (Exception ex) when (ex is FormatException || ServerCertificateProvider.IsLoadFailure(ex))
        {
            problems.Add(ex.Message);
            return null;
        }
    }

    /// <summary>A restart-only switch (the listening socket's IP_TRANSPARENT and TCP_FASTOPEN are set when it is created).</summary>
    private static bool KeepRunning(List<string> restarts, string key, bool running, bool next)
    {
        if (running != next)
        {
            restarts.Add(key + " changed");
        }

        return running;
    }

    /// <summary>A restart-only number (the listening socket's Fast Open queue is set when it is created).</summary>
    private static int KeepRunning(List<string> restarts, string key, int running, int next)
    {
        if (running != next)
        {
            restarts.Add(key + " changed");
        }

        return running;
    }

    /// <summary>A restart-only value: a change is noted, and the running value is what applies.</summary>
    private static string KeepRunning(List<string> restarts, string key, string running, string next)
    {
        if (string.Equals(running, next, StringComparison.OrdinalIgnoreCase))
        {
            return next;
        }

        restarts.Add(key + " changed");
        return running;
    }

    /// <summary>
    /// The certificate the new settings use: the current provider when the files are the same (reloaded in place when
    /// applied), a new one when they differ, or, when new files do not load, the current one (with the failure).
    /// </summary>
    private static ServerCertificateProvider? NextCertificates(ServerCertificateProvider? current, InboundTlsOptions tls, out bool inPlace, out string? failure)
    {
        inPlace = false;
        failure = null;
        if (!tls.IsConfigured)
        {
            return null;
        }

        if (current is not null && current.HasFiles(tls.CertificatePath!, tls.KeyPath))
        {
            inPlace = true;
            return current;
        }

        return ServerCertificateProvider.TryCreate(tls.CertificatePath!, tls.KeyPath, out failure) ?? current;
    }

    private void Apply(ReloadPlan plan, string reason)
    {
        foreach (var change in plan.Inbound)
        {
            change.Listener.Apply(change.Settings);
            if (change.Listener.Problem is null)
            {
                // One not opened at start is told about once a reload, as needing a restart.
                ReportCertificate(change.Listener.Name, change.Settings.Certificates, change.InPlace, change.Failure, reason);
            }
        }

        foreach (var change in plan.Outbound)
        {
            change.Listener.Apply(change.Settings);
            if (change.Listener.Problem is null)
            {
                ReportCertificate(change.Listener.Name, change.Settings.SenderCertificates, change.InPlace, change.Failure, reason);
            }
        }
    }

    private void ReportCertificate(string listener, ServerCertificateProvider? certificates, bool inPlace, string? failure, string reason)
    {
        if (inPlace)
        {
            ReloadCertificate(listener, certificates!, reason);
        }
        else if (failure is not null && certificates is not null)
        {
            LogCertificateReloadFailed(logger, listener, reason, failure);
        }
        else if (failure is not null)
        {
            LogCertificateNotLoaded(logger, listener, reason, failure);
        }
        else if (certificates is not null)
        {
            LogCertificateReloaded(logger, listener, certificates.Subject, reason);
        }
    }

    private void ReloadCertificate(string listener, ServerCertificateProvider certificates, string reason)
    {
        try
        {
            certificates.Reload();
            LogCertificateReloaded(logger, listener, certificates.Subject, reason);
        }
        catch (Exception ex) when (ServerCertificateProvider.IsLoadFailure(ex))
        {
            LogCertificateReloadFailed(logger, listener, reason, ex.Message);
        }
    }

    /// <summary>The running listeners' certificates read again from their files (a file changed, or a rejected reload).</summary>
    private void ReloadCertificates(string reason)
    {
        lock (_reloading)
        {
            ReloadCertificatesLocked(reason);
        }
    }

    private void ReloadCertificatesLocked(string reason)
    {
        foreach (var (name, provider) in Certificates())
        {
            ReloadCertificate(name, provider, reason);
        }

        LogCertificateDates();
    }

    /// <summary>An error line for each certificate served out of its dates: it is served anyway (README, TLS).</summary>
    private void LogCertificateDates()
    {
        var now = time.GetUtcNow();
        foreach (var (name, provider) in Certificates())
        {
            if (provider.IsExpired(now))
            {
                LogCertificateExpired(logger, name, provider.Subject, provider.NotAfter.ToString("u", System.Globalization.CultureInfo.InvariantCulture),
                    provider.CertificatePath);
            }
            else if (provider.IsNotYetValid(now))
            {
                LogCertificateNotYetValid(logger, name, provider.Subject, provider.NotBefore.ToString("u", System.Globalization.CultureInfo.InvariantCulture),
                    provider.CertificatePath);
            }
        }
    }

    private IEnumerable<Measurement<double>> CertificateExpiries() => Certificates().Select(c => new Measurement<double>(
        c.Provider.NotAfter.ToUnixTimeSeconds(), new("listener", c.Name), new("subject", c.Provider.Subject)));

    private IEnumerable<(string Name, ServerCertificateProvider Provider)> Certificates() =>
        inbound.Where(l => l.Problem is null && l.Certificates is not null).Select(l => (l.Name, l.Certificates!))
            .Concat(outbound.Where(l => l.Problem is null && l.SenderCertificates is not null).Select(l => (l.Name, l.SenderCertificates!)));

    private IEnumerable<(string Name, string Problem)> ListenerProblems() =>
        inbound.Where(l => l.Problem is not null).Select(l => (l.Name, l.Problem!))
            .Concat(outbound.Where(l => l.Problem is not null).Select(l => (l.Name, l.Problem!)));

    private void WatchCertificateFiles()
    {
        foreach (var directory in Certificates().SelectMany(c => c.Provider.Files).Select(Path.GetDirectoryName).Distinct())
        {
            if (directory is null || !Directory.Exists(directory))
            {
                continue;
            }

            var watcher = new FileSystemWatcher(directory) { NotifyFilter = NotifyFilters.LastWrite | NotifyFilters.FileName | NotifyFilters.CreationTime };
            watcher.Changed += OnFileEvent;
            watcher.Created += OnFileEvent;
            watcher.Renamed += OnFileEvent;
            watcher.EnableRaisingEvents = true;
            _watchers.Add(watcher);
        }
    }

    private void DisposeWatchers()
    {
        foreach (var watcher in _watchers)
        {
            watcher.Dispose();
        }

        _watchers.Clear();
    }

    private void OnFileEvent(object sender, FileSystemEventArgs e)
    {
        if (Certificates().Any(c => c.Provider.Files.Contains(e.FullPath)))
        {
            // Certificate and key are often replaced one after the other: wait until both are written.
            _debounce?.Change(Settle, Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>The restart-only keys' values, flattened ("Metrics:Listen" → "127.0.0.1:9325").</summary>
    private static Dictionary<string, string> RestartValues(IConfiguration source)
    {
        var values = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var section in RestartSections)
        {
            foreach (var (key, value) in source.GetSection(section).AsEnumerable())
            {
                if (value is not null)
                {
                    values[key] = value;
                }
            }
        }

        return values;
    }

    private static IEnumerable<string> ChangedKeys(Dictionary<string, string> running, Dictionary<string, string> next) =>
        running.Keys.Union(next.Keys, StringComparer.OrdinalIgnoreCase)
            .Order(StringComparer.OrdinalIgnoreCase)
            .Where(key => !string.Equals(running.GetValueOrDefault(key), next.GetValueOrDefault(key), StringComparison.Ordinal));

    private sealed class ReloadPlan
    {
        public List<InboundChange> Inbound { get; } = [];

        public List<OutboundChange> Outbound { get; } = [];
    }

    private sealed record InboundChange(InboundListener Listener, InboundListenerSettings Settings, bool InPlace, string? Failure);

    private sealed record OutboundChange(OutboundListener Listener, OutboundListenerSettings Settings, bool InPlace, string? Failure);
}
