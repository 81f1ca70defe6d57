using System.Net;
using EarlyPipeProxy.Protocol.Replies;
using EarlyPipeProxy.Sessions.Configuration;
using EarlyPipeProxy.Sessions.Logging;
using EarlyPipeProxy.Sessions.Telemetry;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;

namespace EarlyPipeProxy.Host.Hosting;

/// <summary>
/// What every SMTP connection handler does around its session, whichever direction: takes one of the listener's
/// connection slots (or refuses the connection with a 421 when there is none), counts the connection in the metrics,
/// hands the session Kestrel's close-requested token, and logs a failing session instead of letting it take the
/// listener down.
/// </summary>
public sealed partial class SessionConnectionRunner(ProxyMetrics metrics, ILogger<SessionConnectionRunner> logger)
{
    /// <param name="connection">The accepted connection; refused on it when the listener is full.</param>
    /// <param name="listener">The listener's name, for logs and metrics.</param>
    /// <param name="slots">The listener's connection cap.</param>
    /// <param name="direction">The metrics' direction label (<see cref="Direction"/>).</param>
    /// <param name="peer">The connecting client's or sender's address, for logs.</param>
    /// <param name="state">What <paramref name="runSession"/> needs, passed through so that it can be a static lambda.</param>
    /// <param name="runSession">Builds and runs the session, given the close-requested token; called only with a slot taken.</param>
    /// <remarks>
    /// Generic over the state rather than taking a closure: the state lives in this method's own frame, which an open
    /// connection holds anyway, instead of in two more objects per connection.
    /// </remarks>
    public async Task RunAsync<TState>(ConnectionContext connection, string listener, ConnectionSlots slots, string direction, IPAddress peer,
        TState state, Func<TState, CancellationToken, Task> runSession)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(slots);
        ArgumentNullException.ThrowIfNull(runSession);
        if (!slots.TryTake())
        {
            LogConnectionLimit(logger, peer, listener, slots.Capacity);
            await connection.Transport.Output.WriteAsync(ProxyReplies.TooManyConnections.ToArray());
            return;
        }

        metrics.ConnectionOpened(listener, direction);
        try
        {
            var closeRequested = connection.Features.Get<IConnectionLifetimeNotificationFeature>()?.ConnectionClosedRequested ?? default;
            await runSession(state, closeRequested);
        }
#pragma warning disable CA1031 // A session must never take the listener down; the failure is logged.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            LogSessionFailed(logger, ex, peer, listener);
        }
        finally
        {
            metrics.ConnectionClosed(listener, direction);
            slots.Release();
        }
    }

    [LoggerMessage(EventId = LogEventIds.ConnectionLimitReached, Level = LogLevel.Warning,
        Message = "connection limit reached: refused H=[{PeerAddress}] I={Listener} (max {Max})")]
    private static partial void LogConnectionLimit(ILogger logger, IPAddress peerAddress, string listener, int max);

    [LoggerMessage(EventId = LogEventIds.SessionFailed, Level = LogLevel.Error, Message = "session failed H=[{PeerAddress}] I={Listener}")]
    private static partial void LogSessionFailed(ILogger logger, Exception exception, IPAddress peerAddress, string listener);
}
