using System.Runtime.InteropServices;
using EarlyPipeProxy.Sessions.Logging;

namespace EarlyPipeProxy.Host.Hosting;

/// <summary>
/// The proxy's timing of a graceful stop (SIGTERM or SIGINT, through the host's console lifetime). Kestrel closes the
/// listeners and asks every connection to close, which a session answers with 421 4.3.2 between transactions; this
/// adds the two moments a session cannot know by itself. Halfway through <see cref="Configuration.EarlyPipeOptions.ShutdownTimeout"/>
/// is the cut-off: a message that has not ended by then is abandoned (its upstream never sees an end of data), so every
/// end of data the proxy does send has at least the other half to get its verdict to the client. At the
/// ShutdownTimeout, or at a second SIGTERM or SIGINT, every session still open is aborted, as Kestrel's own hard stop
/// does a moment later, but so that the sessions end (and log) before the process exits.
/// </summary>
public sealed partial class GracefulStop(TimeSpan shutdownTimeout, IHostApplicationLifetime lifetime, ILogger<GracefulStop> logger)
    : IHostedService, IDisposable
{
    private readonly CancellationTokenSource _cutOff = new();
    private readonly CancellationTokenSource _aborted = new();
    private readonly List<IDisposable> _registrations = [];
    private int _signals;

    /// <summary>Fires at the stop's cut-off (or its hard end): messages not yet ended are abandoned.</summary>
    public CancellationToken CutOff => _cutOff.Token;

    /// <summary>Fires at the stop's hard end: the ShutdownTimeout, or a second signal.</summary>
    public CancellationToken Aborted => _aborted.Token;

    /// <summary>The cut-off's distance from the start of the stop: half the ShutdownTimeout.</summary>
    public static TimeSpan CutOffAfter(TimeSpan shutdownTimeout) => shutdownTimeout / 2;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _registrations.Add(lifetime.ApplicationStopping.Register(static state => ((GracefulStop)state!).Begin(), this));
        if (!OperatingSystem.IsWindows())
        {
            // The console lifetime takes the first signal (it stops the host) and ignores any after it: counted here.
            _registrations.Add(PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal));
            _registrations.Add(PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal));
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Dispose()
    {
        foreach (var registration in _registrations)
        {
            registration.Dispose();
        }

        _cutOff.Dispose();
        _aborted.Dispose();
    }

    private void Begin()
    {
        var timeout = shutdownTimeout;
        LogStopping(logger, CutOffAfter(timeout), timeout);
        _cutOff.CancelAfter(CutOffAfter(timeout));
        _aborted.CancelAfter(timeout);
    }

    private void OnSignal(PosixSignalContext context)
    {
        // Never the runtime's default (an immediate exit): a stop always lets the sessions end and log.
        context.Cancel = true;
        if (Interlocked.Increment(ref _signals) < 2)
        {
            // The console lifetime stops the host at SIGTERM and SIGINT, systemd's lifetime (AddSystemd) at SIGTERM only:
            // without this, SIGINT under systemd would be swallowed here and never stop the proxy. Stopping twice is a no-op.
            lifetime.StopApplication();
            return;
        }

        LogStoppingHard(logger, context.Signal.ToString());
        try
        {
            _cutOff.Cancel();
            _aborted.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The host is already gone.
        }
    }

    [LoggerMessage(EventId = LogEventIds.Stopping, Level = LogLevel.Information,
        Message = "stopping: no new connections; idle sessions get 421, messages not ended within {CutOff} are abandoned, sessions still open after {ShutdownTimeout} are cut")]
    private static partial void LogStopping(ILogger logger, TimeSpan cutOff, TimeSpan shutdownTimeout);

    [LoggerMessage(EventId = LogEventIds.StoppingHard, Level = LogLevel.Warning,
        Message = "stopping now ({Signal} while stopping): sessions still open are cut; one awaiting a verdict logs end=\"connection aborted awaiting …\"")]
    private static partial void LogStoppingHard(ILogger logger, string signal);
}
