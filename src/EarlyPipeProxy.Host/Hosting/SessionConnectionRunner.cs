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
/// connection slots and its client address's share (or refuses the connection with a 421 at once when the listener,
/// or that address, has its fill open or has connected too often this minute), counts the connection in the metrics,
/// hands the session Kestrel's close-requested token, and logs a failing session instead of letting it take the
/// listener down.
/// </summary>
public sealed partial class SessionConnectionRunner(ProxyMetrics metrics, ILogger<SessionConnectionRunner> logger)
{
    /// <summary>How long the peer has to take the session's last words once the session is over.</summary>
    private static readonly TimeSpan LastWordsBound = TimeSpan.FromSeconds(5);

    /// <param name="connection">The accepted connection; refused on it when the listener is full.</param>
    /// <param name="listener">The listener's name, for logs and metrics.</param>
    /// <param name="slots">The listener's connection cap.</param>
    /// <param name="addressLimits">The listener's per-client-address caps.</param>
    /// <param name="direction">The metrics' direction label (<see cref="Direction"/>).</param>
    /// <param name="peer">The connecting client's or sender's address, for logs.</param>
    /// <param name="state">What <paramref name="runSession"/> needs, passed through so that it can be a static lambda.</param>
    /// <param name="runSession">Builds and runs the session, given the close-requested token; called only with a slot taken.</param>
    /// <remarks>
    /// Generic over the state rather than taking a closure: the state lives in this method's own frame, which an open
    /// connection holds anyway, instead of in two more objects per connection.
    /// </remarks>
    public async Task RunAsync<TState>(ConnectionContext connection, string listener, ConnectionSlots slots, ClientAddressLimiter addressLimits,
        string direction, IPAddress peer, TState state, Func<TState, CancellationToken, Task> runSession)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(slots);
        ArgumentNullException.ThrowIfNull(addressLimits);
        ArgumentNullException.ThrowIfNull(runSession);
        if (!slots.TryTake())
        {
            LogConnectionLimit(logger, peer, listener, slots.Capacity);
            metrics.ConnectionRefused(listener, direction, ConnectionRefusal.ListenerFull);
            await connection.Transport.Output.WriteAsync(ProxyReplies.TooManyConnections.ToArray());
            return;
        }

        // After the listener's cap: only a connection that got a slot can add an address to the table.
        var admission = addressLimits.Admit(peer);
        if (admission is ClientAdmission.TooManyConnections or ClientAdmission.RateExceeded)
        {
            slots.Release();
            await RefuseAsync(connection, listener, addressLimits, direction, peer, admission);
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
            if (admission == ClientAdmission.Admitted)
            {
                addressLimits.Release(peer);
            }

            slots.Release();
        }

        await CloseAsync(connection);
    }

    /// <summary>The refusal of an address over one of its limits: a log line, the metric, and the 421, at once.</summary>
    private async Task RefuseAsync(ConnectionContext connection, string listener, ClientAddressLimiter addressLimits, string direction, IPAddress peer,
        ClientAdmission admission)
    {
        ReadOnlyMemory<byte> reply;
        if (admission == ClientAdmission.RateExceeded)
        {
            LogAddressRateLimit(logger, peer, listener, addressLimits.MaxConnectionsPerAddressPerMinute);
            metrics.ConnectionRefused(listener, direction, ConnectionRefusal.AddressRate);
            reply = ProxyReplies.ConnectionRateExceeded.ToArray();
        }
        else
        {
            LogAddressConnectionLimit(logger, peer, listener, addressLimits.MaxConnectionsPerAddress);
            metrics.ConnectionRefused(listener, direction, ConnectionRefusal.AddressConnections);
            reply = ProxyReplies.TooManyConnectionsFromAddress.ToArray();
        }

        await connection.Transport.Output.WriteAsync(reply);
    }

    /// <summary>
    /// Ends the connection once its session is over. Kestrel would otherwise close it gracefully, waiting for its send
    /// loop to hand every queued octet to the kernel: a peer that stopped reading (a zero window) holds that wait, the
    /// socket and the connection's memory for as long as it likes. So a peer not taking the last words is cut off at
    /// once, and one whose connection has not closed within the bound after them is cut off then; a peer that reads
    /// (a QUIT's 221, which Exim reads after half-closing) gets everything, then a graceful close.
    /// </summary>
    private static async Task CloseAsync(ConnectionContext connection)
    {
        var output = connection.Transport.Output;
        try
        {
            // Nothing is written: this flush only waits while the pipe holds more than its threshold, which is while
            // the peer does not read (the session's own flushes of its last words were already bounded).
            var flush = output.FlushAsync();
            if (!flush.IsCompleted)
            {
                connection.Abort(new ConnectionAbortedException("the peer stopped reading"));
                await flush.AsTask().WaitAsync(LastWordsBound);
                return;
            }

            await flush;
            await output.CompleteAsync();
        }
        catch (Exception ex) when (ex is InvalidOperationException or TimeoutException or IOException)
        {
            // A write of the session's TLS layer still waiting for the peer (abandoned when its close timed out).
            connection.Abort(new ConnectionAbortedException("the peer stopped reading"));
            return;
        }

        // Completing the output lets Kestrel send what is queued, then close; the connection-closed token fires when
        // that is done (or when the peer closed first).
        var closed = connection.ConnectionClosed;
        await Task.Delay(LastWordsBound, closed).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        if (!closed.IsCancellationRequested)
        {
            connection.Abort(new ConnectionAbortedException("the peer did not take the session's last words"));
        }
    }

    [LoggerMessage(EventId = LogEventIds.ConnectionLimitReached, Level = LogLevel.Warning,
        Message = "connection limit reached: refused H=[{PeerAddress}] I={Listener} (max {Max})")]
    private static partial void LogConnectionLimit(ILogger logger, IPAddress peerAddress, string listener, int max);

    [LoggerMessage(EventId = LogEventIds.AddressConnectionLimitReached, Level = LogLevel.Warning,
        Message = "connection limit per address reached: refused H=[{PeerAddress}] I={Listener} (max {Max} open)")]
    private static partial void LogAddressConnectionLimit(ILogger logger, IPAddress peerAddress, string listener, int max);

    [LoggerMessage(EventId = LogEventIds.AddressRateLimitReached, Level = LogLevel.Warning,
        Message = "connection rate limit reached: refused H=[{PeerAddress}] I={Listener} (max {Max} a minute)")]
    private static partial void LogAddressRateLimit(ILogger logger, IPAddress peerAddress, string listener, int max);

    [LoggerMessage(EventId = LogEventIds.SessionFailed, Level = LogLevel.Error, Message = "session failed H=[{PeerAddress}] I={Listener}")]
    private static partial void LogSessionFailed(ILogger logger, Exception exception, IPAddress peerAddress, string listener);
}
