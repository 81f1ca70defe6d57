using EarlyPipeProxy.Host.Configuration;

namespace EarlyPipeProxy.Host.Cli;

/// <summary>A failed start in one line, naming the configuration key of the address that could not be bound.</summary>
public static class StartFailure
{
    public static string Describe(Exception exception, ProxyConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(exception);
        ArgumentNullException.ThrowIfNull(configuration);
        while (exception is AggregateException { InnerExceptions.Count: > 0 } aggregate)
        {
            exception = aggregate.InnerExceptions[0];
        }

        var message = OneLine(exception.Message);
        foreach (var (key, endPoint) in configuration.ListenEndPoints())
        {
            // Kestrel: "Failed to bind to address http://127.0.0.1:2025: address already in use."
            var address = endPoint.ToString();
            var at = message.IndexOf("://" + address, StringComparison.Ordinal);
            if (at < 0)
            {
                continue;
            }

            var tail = message[(at + 3 + address.Length)..].TrimStart(':', ' ').TrimEnd('.');
            var reason = tail.Length > 0 ? tail : OneLine(exception.InnerException?.Message ?? "cannot listen").TrimEnd('.');
            return $"{key} {address}: {reason}";
        }

        var inner = exception.InnerException is { } cause && cause.Message != exception.Message ? ": " + OneLine(cause.Message) : string.Empty;
        return message.TrimEnd('.') + inner;
    }

    private static string OneLine(string text) => text.ReplaceLineEndings(" ");
}
