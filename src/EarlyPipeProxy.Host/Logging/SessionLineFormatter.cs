using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;

namespace EarlyPipeProxy.Host.Logging;

/// <summary>
/// Console lines in the manner of Exim's mainlog: UTC timestamp, then the message, with nothing in between for
/// information and a level word otherwise. Session lines stay one greppable line each.
/// </summary>
public sealed class SessionLineFormatter() : ConsoleFormatter(FormatterName)
{
    public const string FormatterName = "earlypipe";

    public override void Write<TState>(in LogEntry<TState> logEntry, Microsoft.Extensions.Logging.IExternalScopeProvider? scopeProvider, TextWriter textWriter)
    {
        var message = logEntry.Formatter(logEntry.State, logEntry.Exception);
        if (message is null && logEntry.Exception is null)
        {
            return;
        }

        textWriter.Write(DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm:ss.fff ", System.Globalization.CultureInfo.InvariantCulture));
        WriteLevelAndMessage(logEntry.LogLevel, message, logEntry.Exception, textWriter);
    }

    /// <summary>
    /// The line after its timestamp: the level word (none for information), the message, an exception on the same
    /// line, the line end. Shared with <see cref="JournalLineFormatter"/>, so both formats grep alike.
    /// </summary>
    internal static void WriteLevelAndMessage(LogLevel logLevel, string? message, Exception? exception, TextWriter textWriter)
    {
        var level = logLevel switch
        {
            LogLevel.Information => null,
            LogLevel.Warning => "warning: ",
            LogLevel.Error => "error: ",
            LogLevel.Critical => "panic: ",
            LogLevel.Debug => "debug: ",
            _ => "trace: ",
        };
        textWriter.Write(level);
        textWriter.Write(message);
        if (exception is not null)
        {
            textWriter.Write(' ');
            textWriter.Write(exception.ToString().ReplaceLineEndings(" | "));
        }

        textWriter.WriteLine();
    }
}
