using Microsoft.Extensions.Logging;

namespace EarlyPipeProxy.Sessions.Tests.TestSupport;

/// <summary>Keeps the session's log lines (its "session ... end=..." line says why it ended).</summary>
public sealed class ListLogger : ILogger
{
    private readonly List<string> _lines = [];

    public IReadOnlyList<string> Lines
    {
        get
        {
            lock (_lines)
            {
                return [.. _lines];
            }
        }
    }

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        var line = $"{logLevel}: {formatter(state, exception)}{(exception is null ? string.Empty : " " + exception)}";
        lock (_lines)
        {
            _lines.Add(line);
        }
    }
}
