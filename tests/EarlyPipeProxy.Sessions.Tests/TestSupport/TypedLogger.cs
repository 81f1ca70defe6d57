using Microsoft.Extensions.Logging;

namespace EarlyPipeProxy.Sessions.Tests.TestSupport;

/// <summary>An <see cref="ILogger{TCategoryName}"/> that writes into a <see cref="ListLogger"/>, for host pieces that ask for a typed one.</summary>
public sealed class TypedLogger<T>(ListLogger inner) : ILogger<T>
{
    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => inner.BeginScope(state);

    public bool IsEnabled(LogLevel logLevel) => inner.IsEnabled(logLevel);

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        inner.Log(logLevel, eventId, state, exception, formatter);
}
