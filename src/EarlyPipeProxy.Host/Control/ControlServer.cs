using System.Net.Sockets;
using System.Text;
using EarlyPipeProxy.Host.Hosting;
using EarlyPipeProxy.Sessions.EhloCache;
using EarlyPipeProxy.Sessions.Logging;

namespace EarlyPipeProxy.Host.Control;

/// <summary>
/// The Unix domain socket `earlypipe cache …` talks to while the proxy runs (the proxy holds the cache file's lock, so
/// the CLI cannot open it then). One request line in, the answer out, close. Only the socket's owner (and root) may
/// connect: the cache tells which servers this host mails and when.
/// </summary>
public sealed partial class ControlServer(ControlOptions options, EhloCache cache, StatusReport status, TimeProvider time, ILogger<ControlServer> logger)
    : IHostedService, IAsyncDisposable
{
    /// <summary>Every valid request is a few dozen bytes; the limit only keeps a confused client from growing a buffer.</summary>
    public const int MaxRequestLength = 512;

    /// <summary>How much of an unwanted rest of a request is read before the connection is closed regardless.</summary>
    private const int MaxDrainLength = 64 * 1024;

    private readonly string _path = options.SocketPath ?? throw new ArgumentException("Control:SocketPath is not set.", nameof(options));
    private readonly CancellationTokenSource _stopping = new();
    private Socket? _listener;
    private Task? _acceptLoop;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        OperatorDirectory.EnsureFor(_path);
        RemoveStaleSocket();
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            listener.Bind(new UnixDomainSocketEndPoint(_path));

            // The file exists from Bind on, but connections are refused until Listen: narrowing its mode in between
            // leaves no moment in which another user could connect (a umask change would affect the whole process).
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(_path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            }

            listener.Listen(backlog: 16);
        }
        catch
        {
            listener.Dispose();
            throw;
        }

        _listener = listener;
        _acceptLoop = AcceptLoopAsync(_stopping.Token);
        LogListening(logger, _path);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_listener is null)
        {
            return;
        }

        await _stopping.CancelAsync();
        _listener.Dispose();
        if (_acceptLoop is not null)
        {
            await _acceptLoop.WaitAsync(cancellationToken);
        }

        TryDelete(_path);
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        _listener?.Dispose();
        _stopping.Dispose();
    }

    /// <summary>
    /// A socket file left by a proxy that did not stop cleanly would make Bind fail. It is replaced when nobody
    /// answers on it; when somebody does, another proxy is running with this config, and starting would take its socket.
    /// </summary>
    private void RemoveStaleSocket()
    {
        if (Directory.Exists(_path))
        {
            throw new InvalidOperationException($"Control:SocketPath {_path} is a directory.");
        }

        if (!File.Exists(_path))
        {
            return;
        }

        // A socket's size is 0; anything with content is somebody's file that a wrong path must not destroy.
        if (new FileInfo(_path).Length > 0)
        {
            throw new InvalidOperationException($"Control:SocketPath {_path} exists and is not a socket; not replacing it.");
        }

        using (var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            try
            {
                probe.Connect(new UnixDomainSocketEndPoint(_path));
                throw new InvalidOperationException($"Control:SocketPath {_path} is in use: another proxy is running with this configuration.");
            }
            catch (SocketException)
            {
                // Refused: left over from an earlier run.
            }
        }

        File.Delete(_path);
        LogStaleRemoved(logger, _path);
    }

    private async Task AcceptLoopAsync(CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener!.AcceptAsync(stopping);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException ex)
            {
                // Out of descriptors and the like: wait rather than spin, and keep serving once it passes.
                LogAcceptFailed(logger, _path, ex.Message);
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), stopping);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                continue;
            }

            // One client at a time: requests are rare and short, and a stuck client costs at most RequestTimeout. It
            // also means no number of connections can make the proxy spend more than one buffer on them.
            using (client)
            {
                await ServeAsync(client, stopping);
            }
        }
    }

    private async Task ServeAsync(Socket client, CancellationToken stopping)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        limit.CancelAfter(options.RequestTimeout);
        try
        {
            var line = await ReadRequestLineAsync(client, limit.Token);
            string answer;
            if (line is null)
            {
                answer = CacheRequestHandler.Error($"the request must be one line of at most {MaxRequestLength} bytes");
                LogRequestRefused(logger, answer.TrimEnd());
            }
            else if (StatusReport.IsRequest(line))
            {
                answer = status.Answer();
                LogStatusServed(logger);
            }
            else if (!CacheRequest.TryParse(line, out var request, out var problem))
            {
                answer = CacheRequestHandler.Error(problem);
                LogRequestRefused(logger, answer.TrimEnd());
            }
            else
            {
                answer = await CacheRequestHandler.AnswerAsync(cache, request, time, limit.Token);
                LogRequestServed(logger, request, answer[..answer.IndexOf('\n', StringComparison.Ordinal)]);
            }

            await client.SendAsync(Encoding.UTF8.GetBytes(answer), SocketFlags.None, limit.Token);
            client.Shutdown(SocketShutdown.Send);
            await DrainAsync(client, limit.Token);
        }
        catch (OperationCanceledException) when (!stopping.IsCancellationRequested)
        {
            LogRequestTimedOut(logger, options.RequestTimeout);
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
        catch (Exception ex)
        {
            // Whatever a client does, the proxy keeps running; the operator sees why the request failed.
            LogRequestFailed(logger, ex.GetType().Name, ex.Message);
        }
    }

    /// <summary>The line up to LF (CR before it tolerated) or to the end of input; null when it is longer than allowed.</summary>
    private static async ValueTask<string?> ReadRequestLineAsync(Socket client, CancellationToken cancellationToken)
    {
        var buffer = new byte[MaxRequestLength + 1];
        var length = 0;
        while (length < buffer.Length)
        {
            var read = await client.ReceiveAsync(buffer.AsMemory(length), SocketFlags.None, cancellationToken);
            if (read == 0)
            {
                return Encoding.UTF8.GetString(buffer, 0, length);
            }

            var newline = Array.IndexOf(buffer, (byte)'\n', length, read);
            length += read;
            if (newline >= 0)
            {
                return newline <= MaxRequestLength ? Encoding.UTF8.GetString(buffer, 0, newline).TrimEnd('\r') : null;
            }
        }

        return null;
    }

    /// <summary>
    /// Closing a socket with unread input resets the connection, and the reset can overtake the answer (an over-long
    /// request would then never see its error). So what the client still sends is read and dropped until it closes,
    /// within the request's time and a bound on the amount.
    /// </summary>
    private static async ValueTask DrainAsync(Socket client, CancellationToken cancellationToken)
    {
        var scratch = new byte[4096];
        try
        {
            for (var drained = 0; drained < MaxDrainLength;)
            {
                var read = await client.ReceiveAsync(scratch, SocketFlags.None, cancellationToken);
                if (read == 0)
                {
                    return;
                }

                drained += read;
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException)
        {
            // The answer is out; a client that neither reads nor closes is simply let go.
        }
    }

    private void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            LogRemoveFailed(logger, path, ex.Message);
        }
    }

    [LoggerMessage(EventId = LogEventIds.ControlListening, Level = LogLevel.Information, Message = "control socket {Path} listening (earlypipe cache list|show|flush, earlypipe status)")]
    private static partial void LogListening(ILogger logger, string path);

    [LoggerMessage(EventId = LogEventIds.ControlStaleSocketReplaced, Level = LogLevel.Warning, Message = "control socket {Path}: replaced a stale socket file from an earlier run")]
    private static partial void LogStaleRemoved(ILogger logger, string path);

    [LoggerMessage(EventId = LogEventIds.ControlRequestServed, Level = LogLevel.Information, Message = "control: {Request}: {Answer}")]
    private static partial void LogRequestServed(ILogger logger, CacheRequest request, string answer);

    /// <summary>Debug: a monitoring script may ask every minute, and the answer changes nothing.</summary>
    [LoggerMessage(EventId = LogEventIds.ControlStatusServed, Level = LogLevel.Debug, Message = "control: status")]
    private static partial void LogStatusServed(ILogger logger);

    /// <summary>The answer is logged rather than the request: it quotes what was wrong, with control characters masked.</summary>
    [LoggerMessage(EventId = LogEventIds.ControlRequestRefused, Level = LogLevel.Warning, Message = "control: request refused: {Answer}")]
    private static partial void LogRequestRefused(ILogger logger, string answer);

    [LoggerMessage(EventId = LogEventIds.ControlRequestTimedOut, Level = LogLevel.Warning, Message = "control: no complete request within {Timeout}; connection dropped")]
    private static partial void LogRequestTimedOut(ILogger logger, TimeSpan timeout);

    [LoggerMessage(EventId = LogEventIds.ControlRequestFailed, Level = LogLevel.Warning, Message = "control: request failed ({ExceptionType}: {Reason})")]
    private static partial void LogRequestFailed(ILogger logger, string exceptionType, string reason);

    [LoggerMessage(EventId = LogEventIds.ControlAcceptFailed, Level = LogLevel.Error, Message = "control socket {Path}: accept failed: {Reason}")]
    private static partial void LogAcceptFailed(ILogger logger, string path, string reason);

    [LoggerMessage(EventId = LogEventIds.ControlSocketRemoveFailed, Level = LogLevel.Warning, Message = "control socket {Path} could not be removed: {Reason}")]
    private static partial void LogRemoveFailed(ILogger logger, string path, string reason);
}
