using EarlyPipeProxy.Protocol.Commands;
using EarlyPipeProxy.Protocol.Replies;
using EarlyPipeProxy.Sessions.Telemetry;
using EarlyPipeProxy.Sessions.Upstream;
using Microsoft.Extensions.Logging;

namespace EarlyPipeProxy.Sessions.Outbound.Warm;

/// <summary>
/// One connection in the cache, and its watch: while it waits for a session nobody else reads it, so the watch does.
/// It reads the answer to the RSET it was parked with (250, else it is given up), then anything at all: a remote that
/// owes nothing and speaks (its 421 at its own timeout, a reply out of step) or closes has made the connection
/// useless, and it is dropped at once instead of being handed to a session. The wait also ends when a session takes
/// it (<see cref="Take"/>: the read is cancelled, nothing consumed) or when it has waited long enough.
/// </summary>
internal sealed partial class ParkedConnection : IDisposable
{
    // A polite QUIT is worth a short wait, never a long one: nobody is waiting for this connection.
    private static readonly TimeSpan QuitBound = TimeSpan.FromSeconds(5);

    private readonly CancellationTokenSource _wait;
    private readonly string _listener;
    private readonly ProxyMetrics? _metrics;
    private readonly ILogger _logger;
    private int _taken;

    public ParkedConnection(WarmKey key, WarmConnection warm, TimeSpan wait, TimeProvider time, string listener, ProxyMetrics? metrics, ILogger logger)
    {
        Key = key;
        Warm = warm;
        _wait = new CancellationTokenSource(wait, time);
        _listener = listener;
        _metrics = metrics;
        _logger = logger;
    }

    public WarmKey Key { get; }

    public WarmConnection Warm { get; }

    /// <summary>The watch; never faults.</summary>
    public Task<ParkedEnd> Watch { get; private set; } = Task.FromResult(ParkedEnd.Taken);

    /// <summary>Starts the watch; <paramref name="ended"/> hears of every end but a session's taking it.</summary>
    public void StartWatch(Func<ParkedConnection, ParkedEnd, ValueTask> ended)
    {
        _metrics?.ConnectionCacheParked(_listener, 1);
        Watch = WatchAsync(ended);
    }

    /// <summary>Ends the wait for a session (or the proxy's stop); the watch's result says whether the connection is still good.</summary>
    public void Take()
    {
        Volatile.Write(ref _taken, 1);
        _wait.Cancel();
    }

    /// <summary>Gives the connection up: QUIT where the remote may still read it, a reset where it is out of step.</summary>
    public async ValueTask DropAsync(ParkedEnd why)
    {
        Dispose();
        _metrics?.ConnectionCacheParked(_listener, -1);
        var connection = Warm.Connection;
        _metrics?.ConnectionCacheDropped(_listener, Label(why));
        LogDropped(_logger, why == ParkedEnd.IdleTimeout || why == ParkedEnd.Stopping ? LogLevel.Debug : LogLevel.Information,
            Key.Remote.RemoteAddress, Key.Remote.RemotePort, _listener, Describe(why));
        if (why == ParkedEnd.OutOfStep)
        {
            await connection.AbortAsync();
            return;
        }

        if (why is ParkedEnd.IdleTimeout or ParkedEnd.Stopping)
        {
            try
            {
                SmtpCommandWriter.WriteQuit(connection.Output);
                using var bound = new CancellationTokenSource(QuitBound);
                await connection.FlushAsync(bound.Token);
            }
            catch (Exception ex) when (ex is UpstreamUnavailableException or OperationCanceledException or IOException or InvalidOperationException)
            {
                // Nobody is waiting: a remote that does not take the QUIT changes nothing.
            }
        }

        await connection.DisposeAsync();
    }

    /// <summary>The connection's end once taken: the session keeps it; this only forgets the timer.</summary>
    public void Release()
    {
        Dispose();
        _metrics?.ConnectionCacheParked(_listener, -1);
    }

    /// <summary>The timer of the wait; the connection itself is the session's, or dropped (<see cref="DropAsync"/>).</summary>
    public void Dispose() => _wait.Dispose();

    /// <summary>The reason as a metric label.</summary>
    public static string Label(ParkedEnd why) => why switch
    {
        ParkedEnd.IdleTimeout => "idle_timeout",
        ParkedEnd.Closed => "closed",
        ParkedEnd.Closing => "closing_421",
        ParkedEnd.ResetRefused => "rset_refused",
        ParkedEnd.OutOfStep => "out_of_step",
        ParkedEnd.Stopping => "stopping",
        _ => "taken",
    };

    private static string Describe(ParkedEnd why) => why switch
    {
        ParkedEnd.IdleTimeout => "not reused within ConnectionCache:IdleTimeout: QUIT",
        ParkedEnd.Closed => "closed by the remote while parked",
        ParkedEnd.Closing => "the remote said 421 while parked",
        ParkedEnd.ResetRefused => "RSET refused",
        ParkedEnd.OutOfStep => "the remote said what nothing asked for while parked (out of step): reset",
        ParkedEnd.Stopping => "the proxy is stopping: QUIT",
        _ => "taken",
    };

    private async Task<ParkedEnd> WatchAsync(Func<ParkedConnection, ParkedEnd, ValueTask> ended)
    {
        // Off the parking session's path: it goes on to its end while this waits.
        await Task.Yield();
        var end = await WaitAsync();
        if (end != ParkedEnd.Taken)
        {
            await ended(this, end);
        }

        return end;
    }

    private async Task<ParkedEnd> WaitAsync()
    {
        var connection = Warm.Connection;
        try
        {
            if (Warm.ResetPending)
            {
                var reset = await connection.ReadReplyAsync(Warm.MaxReplyLineLength, _wait.Token);
                var code = reset.Code;
                connection.ReleaseReply();
                if (code != ReplyCode.Ok)
                {
                    return code == ReplyCode.ServiceNotAvailable ? ParkedEnd.Closing : ParkedEnd.ResetRefused;
                }

                Warm.ResetPending = false;
            }

            var said = await connection.ReadReplyAsync(Warm.MaxReplyLineLength, _wait.Token);
            var saidCode = said.Code;
            connection.ReleaseReply();
            return saidCode == ReplyCode.ServiceNotAvailable ? ParkedEnd.Closing : ParkedEnd.OutOfStep;
        }
        catch (OperationCanceledException)
        {
            return Volatile.Read(ref _taken) == 1 ? ParkedEnd.Taken : ParkedEnd.IdleTimeout;
        }
        catch (UpstreamUnavailableException ex)
        {
            return ex.Failure == UpstreamFailure.Closed ? ParkedEnd.Closed : ParkedEnd.OutOfStep;
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException or ObjectDisposedException)
        {
            return ParkedEnd.Closed;
        }
    }

    [LoggerMessage(EventId = Logging.LogEventIds.WarmConnectionDropped,
        Message = "warm connection to U={RemoteAddress}:{RemotePort} I={Listener} dropped: {Reason}")]
    private static partial void LogDropped(ILogger logger, LogLevel level, System.Net.IPAddress remoteAddress, int remotePort, string listener, string reason);
}
