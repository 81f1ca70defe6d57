using EarlyPipeProxy.Sessions.Logging;

namespace EarlyPipeProxy.Host.Hosting;

/// <summary>The reloader's log lines: greppable by "reload:" and "certificate".</summary>
public sealed partial class ConfigurationReloader
{
    [LoggerMessage(EventId = LogEventIds.CertificateReloaded, Level = LogLevel.Information, Message = "certificate reloaded I={Listener} ({Subject}) after {Reason}")]
    private static partial void LogCertificateReloaded(ILogger logger, string listener, string subject, string reason);

    [LoggerMessage(EventId = LogEventIds.CertificateReloadFailed, Level = LogLevel.Warning,
        Message = "certificate reload failed I={Listener} after {Reason}: {Error}; keeping the current certificate")]
    private static partial void LogCertificateReloadFailed(ILogger logger, string listener, string reason, string error);

    [LoggerMessage(EventId = LogEventIds.CertificateNotLoaded, Level = LogLevel.Error,
        Message = "certificate not loaded I={Listener} after {Reason}: {Error}; the listener offers no STARTTLS until it loads")]
    private static partial void LogCertificateNotLoaded(ILogger logger, string listener, string reason, string error);

    [LoggerMessage(EventId = LogEventIds.CertificateExpired, Level = LogLevel.Error,
        Message = "certificate EXPIRED I={Listener} ({Subject}) on {NotAfter}, served anyway: clients that check dates fail their handshake; renew {File}")]
    private static partial void LogCertificateExpired(ILogger logger, string listener, string subject, string notAfter, string file);

    [LoggerMessage(EventId = LogEventIds.CertificateNotYetValid, Level = LogLevel.Error,
        Message = "certificate NOT YET VALID I={Listener} ({Subject}) until {NotBefore}, served anyway: clients that check dates fail their handshake; check {File} and the clock")]
    private static partial void LogCertificateNotYetValid(ILogger logger, string listener, string subject, string notBefore, string file);

    [LoggerMessage(EventId = LogEventIds.ListenerNotOpened, Level = LogLevel.Error,
        Message = "listener I={Listener} NOT OPENED: {Problem}; the other listeners run, this one opens at a restart once its certificate loads")]
    private static partial void LogListenerNotOpened(ILogger logger, string listener, string problem);

    [LoggerMessage(EventId = LogEventIds.ConfigurationReloaded, Level = LogLevel.Information,
        Message = "reload: {Path} applied after {Reason} ({Restarts} change(s) wait for a restart)")]
    private static partial void LogReloaded(ILogger logger, string path, string reason, int restarts);

    [LoggerMessage(EventId = LogEventIds.ConfigurationReloadProblem, Level = LogLevel.Error, Message = "reload: {Problem}")]
    private static partial void LogReloadProblem(ILogger logger, string problem);

    [LoggerMessage(EventId = LogEventIds.ConfigurationReloadRejected, Level = LogLevel.Error,
        Message = "reload: {Path} rejected after {Reason} ({Problems} problem(s)); the running configuration stays")]
    private static partial void LogReloadRejected(ILogger logger, string path, string reason, int problems);

    [LoggerMessage(EventId = LogEventIds.ConfigurationNeedsRestart, Level = LogLevel.Warning, Message = "reload: {What}; needs a restart")]
    private static partial void LogNeedsRestart(ILogger logger, string what);
}
