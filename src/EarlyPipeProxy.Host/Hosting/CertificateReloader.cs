using System.Runtime.InteropServices;
using EarlyPipeProxy.Sessions.Configuration;
using EarlyPipeProxy.Sessions.Logging;
using EarlyPipeProxy.Sessions.Tls;

namespace EarlyPipeProxy.Host.Hosting;

/// <summary>
/// Reloads listener certificates when their PEM files change or on SIGHUP, without dropping sessions: new handshakes
/// use the new certificate, running sessions keep theirs. A file that does not load (half-written, wrong key) is
/// logged and the old certificate stays.
/// </summary>
public sealed partial class CertificateReloader(
    IReadOnlyList<InboundListener> inbound, IReadOnlyList<OutboundListener> outbound, ILogger<CertificateReloader> logger)
    : IHostedService, IDisposable
{
    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(1);

    private readonly List<FileSystemWatcher> _watchers = [];
    private PosixSignalRegistration? _hangup;
    private Timer? _debounce;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var providers = Providers().ToArray();
        if (providers.Length == 0)
        {
            return Task.CompletedTask;
        }

        _debounce = new Timer(_ => ReloadAll("file change"));
        foreach (var directory in providers.SelectMany(p => p.Files).Select(Path.GetDirectoryName).Distinct())
        {
            var watcher = new FileSystemWatcher(directory!) { NotifyFilter = NotifyFilters.LastWrite | NotifyFilters.FileName | NotifyFilters.CreationTime };
            watcher.Changed += OnFileEvent;
            watcher.Created += OnFileEvent;
            watcher.Renamed += OnFileEvent;
            watcher.EnableRaisingEvents = true;
            _watchers.Add(watcher);
        }

        _hangup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, context =>
        {
            context.Cancel = true;
            ReloadAll("SIGHUP");
        });
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Dispose()
    {
        foreach (var watcher in _watchers)
        {
            watcher.Dispose();
        }

        _hangup?.Dispose();
        _debounce?.Dispose();
    }

    private void OnFileEvent(object sender, FileSystemEventArgs e)
    {
        if (Providers().Any(p => p.Files.Contains(e.FullPath)))
        {
            // Certificate and key are often replaced one after the other: wait until both are written.
            _debounce?.Change(Settle, Timeout.InfiniteTimeSpan);
        }
    }

    private void ReloadAll(string reason)
    {
        foreach (var (name, provider) in Listeners())
        {
            try
            {
                provider.Reload();
                LogReloaded(logger, name, provider.Subject, reason);
            }
#pragma warning disable CA1031 // Any failure keeps the old certificate; it must not take the process down.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                LogReloadFailed(logger, name, reason, ex.Message);
            }
        }
    }

    private IEnumerable<ServerCertificateProvider> Providers() => Listeners().Select(l => l.Provider);

    private IEnumerable<(string Name, ServerCertificateProvider Provider)> Listeners() =>
        inbound.Where(l => l.Certificates is not null).Select(l => (l.Name, l.Certificates!))
            .Concat(outbound.Where(l => l.SenderCertificates is not null).Select(l => (l.Name, l.SenderCertificates!)));

    [LoggerMessage(EventId = LogEventIds.CertificateReloaded, Level = LogLevel.Information, Message = "certificate reloaded I={Listener} ({Subject}) after {Reason}")]
    private static partial void LogReloaded(ILogger logger, string listener, string subject, string reason);

    [LoggerMessage(EventId = LogEventIds.CertificateReloadFailed, Level = LogLevel.Warning, Message = "certificate reload failed I={Listener} after {Reason}: {Error}; keeping the current certificate")]
    private static partial void LogReloadFailed(ILogger logger, string listener, string reason, string error);
}
