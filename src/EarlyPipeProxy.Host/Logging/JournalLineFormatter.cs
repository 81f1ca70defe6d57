using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;

namespace EarlyPipeProxy.Host.Logging;

/// <summary>
/// The Exim-style line of <see cref="SessionLineFormatter"/> for journald: a <c>&lt;N&gt;</c> syslog priority in front
/// (journald strips it and files the line under that priority, so <c>journalctl -p warning</c> works), and no
/// timestamp, since journald stamps every line itself (<c>journalctl -o short-iso-precise</c> shows it to the µs).
/// </summary>
public sealed class JournalLineFormatter() : ConsoleFormatter(FormatterName)
{
    public const string FormatterName = "earlypipe-systemd";

    public override void Write<TState>(in LogEntry<TState> logEntry, Microsoft.Extensions.Logging.IExternalScopeProvider? scopeProvider, TextWriter textWriter)
    {
        var message = logEntry.Formatter(logEntry.State, logEntry.Exception);
        if (message is null && logEntry.Exception is null)
        {
            return;
        }

        textWriter.Write(Priority(logEntry.LogLevel));
        SessionLineFormatter.WriteLevelAndMessage(logEntry.LogLevel, message, logEntry.Exception, textWriter);
    }

    /// <summary>The syslog priority prefix (sd-daemon.h's SD_ERR… values) of a level, as Microsoft's systemd formatter maps them.</summary>
    public static string Priority(LogLevel level) => level switch
    {
        LogLevel.Critical => "<2>",
        LogLevel.Error => "<3>",
        LogLevel.Warning => "<4>",
        LogLevel.Information => "<6>",
        _ => "<7>",
    };
}
