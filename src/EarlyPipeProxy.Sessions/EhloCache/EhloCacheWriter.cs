using System.Threading.Channels;
using EarlyPipeProxy.Sessions.Logging;
using Microsoft.Extensions.Logging;

namespace EarlyPipeProxy.Sessions.EhloCache;

/// <summary>
/// The only code that touches the database after start-up: one task drains a channel of changed keys and writes each
/// key's current in-memory state (an upsert, or a delete when the key is gone). A key changed many times before the
/// task gets to it is written once: the pending set holds a key at most once, and the state is read when it is written,
/// so the file always converges to memory.
/// </summary>
internal sealed partial class EhloCacheWriter : IAsyncDisposable
{
    private readonly Channel<EhloCacheWriteRequest> _requests = Channel.CreateUnbounded<EhloCacheWriteRequest>(
        new UnboundedChannelOptions { SingleReader = true, AllowSynchronousContinuations = false });

    private readonly HashSet<EhloCacheKey> _pending = [];
    private readonly Lock _pendingGate = new();
    private readonly Func<EhloCacheKey, EhloCacheEntry?> _current;
    private readonly Func<IReadOnlyCollection<EhloCacheEntry>> _snapshot;
    private readonly EhloCacheCounters _counters;
    private readonly ILogger _logger;
    private readonly Task _loop;
    private LiteDbEhloStore? _store;

    public EhloCacheWriter(LiteDbEhloStore store, Func<EhloCacheKey, EhloCacheEntry?> current,
        Func<IReadOnlyCollection<EhloCacheEntry>> snapshot, EhloCacheCounters counters, ILogger logger)
    {
        _store = store;
        _current = current;
        _snapshot = snapshot;
        _counters = counters;
        _logger = logger;

        // LiteDB's calls are synchronous file I/O: keep them off the callers' threads.
        _loop = Task.Run(RunAsync);
    }

    /// <summary>False once persistence was given up after a write and a rebuild both failed.</summary>
    public bool IsPersisting => Volatile.Read(ref _store) is not null;

    /// <summary>Schedules a write of the key's current state. Cheap and non-blocking; never throws.</summary>
    public void MarkDirty(EhloCacheKey key)
    {
        lock (_pendingGate)
        {
            if (!_pending.Add(key))
            {
                return;
            }
        }

        // Fails only after disposal: memory stays right, the file just misses this change.
        _requests.Writer.TryWrite(new EhloCacheWriteRequest(key, null));
    }

    /// <summary>Completes when every change scheduled before the call is in the file (or its write failed).</summary>
    public async ValueTask WaitForPendingWritesAsync(CancellationToken cancellationToken)
    {
        var barrier = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_requests.Writer.TryWrite(new EhloCacheWriteRequest(default, barrier)))
        {
            await _loop.WaitAsync(cancellationToken);
            return;
        }

        await barrier.Task.WaitAsync(cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        _requests.Writer.TryComplete();
        await _loop;
        Interlocked.Exchange(ref _store, null)?.Dispose();
    }

    private async Task RunAsync()
    {
        await foreach (var request in _requests.Reader.ReadAllAsync())
        {
            if (request.Barrier is not null)
            {
                request.Barrier.TrySetResult();
                continue;
            }

            lock (_pendingGate)
            {
                _pending.Remove(request.Key);
            }

            Write(request.Key);
        }
    }

    private void Write(EhloCacheKey key)
    {
        var store = Volatile.Read(ref _store);
        if (store is null)
        {
            return;
        }

        try
        {
            if (_current(key) is { } entry)
            {
                store.Upsert(entry);
            }
            else
            {
                store.Delete(key);
            }

            return;
        }
        catch (Exception ex)
        {
            _counters.WriteFailed();
            LogWriteFailed(_logger, store.FilePath, key, ex.GetType().Name, ex.Message, ex);
        }

        try
        {
            store.Rebuild(_snapshot());
            LogRebuilt(_logger, store.FilePath);
        }
        catch (Exception ex)
        {
            LogPersistenceOff(_logger, store.FilePath, ex.Message, ex);
            Interlocked.Exchange(ref _store, null)?.Dispose();
        }
    }

    [LoggerMessage(EventId = LogEventIds.EhloCacheWriteFailed, Level = LogLevel.Error,
        Message = "EHLO cache {Path}: writing {Key} failed ({ExceptionType}: {Reason}); rebuilding the file from memory")]
    private static partial void LogWriteFailed(ILogger logger, string path, EhloCacheKey key, string exceptionType, string reason, Exception exception);

    [LoggerMessage(EventId = LogEventIds.EhloCacheRebuilt, Level = LogLevel.Warning, Message = "EHLO cache {Path}: rebuilt from memory")]
    private static partial void LogRebuilt(ILogger logger, string path);

    [LoggerMessage(EventId = LogEventIds.EhloCacheRebuildFailed, Level = LogLevel.Error,
        Message = "EHLO cache {Path}: rebuilding failed ({Reason}); the cache is kept in memory only until restart")]
    private static partial void LogPersistenceOff(ILogger logger, string path, string reason, Exception exception);
}
