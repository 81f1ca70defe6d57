using System.Globalization;
using System.Net;
using EarlyPipeProxy.Sessions.Logging;
using LiteDB;
using Microsoft.Extensions.Logging;

namespace EarlyPipeProxy.Sessions.EhloCache;

/// <summary>
/// The cache's file: one LiteDB database in direct (exclusive) mode, one collection, one document per key. Used from
/// one thread at a time (opening, then only the writer task): LiteDB 5's concurrency bugs corrupt files, and nothing
/// here needs more than one writer. A file that cannot be opened or read is moved aside and replaced by an empty one:
/// losing the cache costs a few lockstep sessions, refusing to start would cost mail.
/// </summary>
internal sealed partial class LiteDbEhloStore : IDisposable
{
    private const string CollectionName = "ehlo";

    private readonly string _path;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private LiteDatabase? _database;
    private FileStream? _lock;

    private LiteDbEhloStore(string path, TimeProvider time, ILogger logger)
    {
        _path = System.IO.Path.GetFullPath(path);
        _time = time;
        _logger = logger;
    }

    public string FilePath => _path;

    /// <summary>
    /// Opens (or creates) the file and reads every entry. Null only when not even an empty file can be created (an
    /// unwritable directory): the cache then runs in memory.
    /// </summary>
    private static readonly TimeSpan LockWait = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan LockRetry = TimeSpan.FromMilliseconds(100);

    public static LiteDbEhloStore? Open(string path, TimeProvider time, ILogger logger, out List<EhloCacheEntry> entries)
    {
        var store = new LiteDbEhloStore(path, time, logger);
        entries = [];

        // `earlypipe cache` opens the file for a moment when no proxy runs; a proxy starting meanwhile waits it out
        // rather than running without its file until the next restart.
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (!store.TryLock(logRefusal: waited.Elapsed >= LockWait))
        {
            if (waited.Elapsed >= LockWait)
            {
                return null;
            }

            Thread.Sleep(LockRetry);
        }

        try
        {
            entries = store.OpenAndLoad();
            return store;
        }
        catch (Exception ex)
        {
            LogUnreadable(logger, store._path, ex.GetType().Name, ex.Message, ex);
            store.CloseQuietly();
        }

        try
        {
            store.MoveAside();
            store.OpenAndLoad();
            return store;
        }
        catch (Exception ex)
        {
            LogPersistenceOff(logger, store._path, ex.Message, ex);
            store.Dispose();
            return null;
        }
    }

    public void Upsert(EhloCacheEntry entry) => Collection.Upsert(ToDocument(entry));

    public void Delete(EhloCacheKey key) => Collection.Delete(key.StorageId);

    /// <summary>After a failed write: the file is suspect, so it is moved aside and rewritten from memory.</summary>
    public void Rebuild(IEnumerable<EhloCacheEntry> entries)
    {
        CloseQuietly();
        MoveAside();
        OpenAndLoad();
        foreach (var entry in entries)
        {
            Upsert(entry);
        }
    }

    public void Dispose()
    {
        CloseQuietly();
        _lock?.Dispose();
        _lock = null;
    }

    private ILiteCollection<BsonDocument> Collection =>
        (_database ?? throw new ObjectDisposedException(nameof(LiteDbEhloStore))).GetCollection(CollectionName);

    /// <summary>
    /// LiteDB 5's direct mode does not keep a second process (or a second instance) off the file on Linux: both open it
    /// and write, which corrupts it. A lock file held for the store's lifetime does (.NET takes flock(LOCK_EX) for
    /// FileShare.None). Whoever comes second runs in memory and leaves the file, which is not damaged, alone.
    /// </summary>
    /// <summary>Which servers offer what to this host is operator data: owner-only, like the control socket.</summary>
    private static void RestrictToOwner(string file)
    {
        if (OperatingSystem.IsWindows() || !File.Exists(file))
        {
            return;
        }

        try
        {
            File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Someone else's file in a shared directory: the cache still works; the directory's mode is what protects it.
        }
    }

    private bool TryLock(bool logRefusal)
    {
        try
        {
            var directory = System.IO.Path.GetDirectoryName(_path);
            if (!string.IsNullOrEmpty(directory))
            {
                Directory.CreateDirectory(directory);
            }

            _lock = new FileStream(_path + ".lock", FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            if (logRefusal)
            {
                LogInUse(_logger, _path, ex.Message);
            }

            return false;
        }
    }

    private List<EhloCacheEntry> OpenAndLoad()
    {
        _database = new LiteDatabase(new ConnectionString
        {
            Filename = _path,
            Connection = ConnectionType.Direct,
        });
        RestrictToOwner(_path);
        RestrictToOwner(_path + ".lock");

        var entries = new List<EhloCacheEntry>();
        var unusable = new List<BsonValue>();
        foreach (var document in _database.GetCollection(CollectionName).FindAll())
        {
            if (TryFromDocument(document, out var entry))
            {
                entries.Add(entry);
            }
            else
            {
                unusable.Add(document["_id"]);
            }
        }

        // A document this version cannot read (a newer layout, a hand edit) is dropped rather than kept forever.
        foreach (var id in unusable)
        {
            LogRecordDropped(_logger, _path, id.ToString());
            Collection.Delete(id);
        }

        return entries;
    }

    private void MoveAside()
    {
        // LiteDB 5 keeps committed pages in "<name>-log<ext>" until a checkpoint; it belongs to the damaged file.
        var stamp = _time.GetUtcNow().ToString("yyyyMMdd'T'HHmmss.fff'Z'", CultureInfo.InvariantCulture);
        foreach (var file in new[] { _path, LogFilePath(_path) })
        {
            if (File.Exists(file))
            {
                var target = $"{file}.corrupt-{stamp}";
                File.Move(file, target, overwrite: true);
                LogMovedAside(_logger, file, target);
            }
        }
    }

    private void CloseQuietly()
    {
        var database = _database;
        _database = null;
        try
        {
            database?.Dispose();
        }
        catch (Exception ex)
        {
            // Disposing checkpoints the log into the data file; on a damaged file that may fail too.
            LogCloseFailed(_logger, _path, ex.Message);
        }
    }

    private static string LogFilePath(string path) =>
        System.IO.Path.Combine(
            System.IO.Path.GetDirectoryName(path) ?? string.Empty,
            System.IO.Path.GetFileNameWithoutExtension(path) + "-log" + System.IO.Path.GetExtension(path));

    private static BsonDocument ToDocument(EhloCacheEntry entry) => new()
    {
        ["_id"] = entry.Key.StorageId,
        ["local"] = entry.Key.LocalAddress.ToString(),
        ["remote"] = entry.Key.RemoteAddress.ToString(),
        ["port"] = entry.Key.RemotePort,
        ["phase"] = entry.Key.Phase.ToString(),
        ["banner"] = entry.BannerCode,
        ["lines"] = new BsonArray(entry.ReplyLines.Select(line => new BsonValue(line))),

        // Unix milliseconds: LiteDB's own DateTime type hands values back in local time.
        ["learnt"] = entry.LearntAt.ToUnixTimeMilliseconds(),
        ["confirmed"] = entry.LastConfirmedAt.ToUnixTimeMilliseconds(),
    };

    private static bool TryFromDocument(BsonDocument document, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out EhloCacheEntry? entry)
    {
        entry = null;
        if (!document["local"].IsString || !IPAddress.TryParse(document["local"].AsString, out var local)
            || !document["remote"].IsString || !IPAddress.TryParse(document["remote"].AsString, out var remote)
            || !document["port"].IsInt32 || document["port"].AsInt32 is < 1 or > IPEndPoint.MaxPort
            || !document["phase"].IsString || !Enum.TryParse<TlsPhase>(document["phase"].AsString, out var phase) || !Enum.IsDefined(phase)
            || !document["banner"].IsInt32
            || !document["lines"].IsArray || document["lines"].AsArray.Any(line => !line.IsString)
            || !document["learnt"].IsInt64 || !document["confirmed"].IsInt64)
        {
            return false;
        }

        var key = new EhloCacheKey(local, remote, document["port"].AsInt32, phase);
        if (document["_id"] != key.StorageId)
        {
            return false;
        }

        var lines = document["lines"].AsArray.Select(line => line.AsString).ToList();
        try
        {
            return EhloCacheEntry.TryCreate(key, document["banner"].AsInt32, lines,
                DateTimeOffset.FromUnixTimeMilliseconds(document["learnt"].AsInt64),
                DateTimeOffset.FromUnixTimeMilliseconds(document["confirmed"].AsInt64), out entry);
        }
        catch (ArgumentOutOfRangeException)
        {
            // Timestamps beyond DateTimeOffset's range.
            return false;
        }
    }

    [LoggerMessage(EventId = LogEventIds.EhloCacheUnreadable, Level = LogLevel.Error,
        Message = "EHLO cache {Path} is unreadable ({ExceptionType}: {Reason}); moving it aside and starting with an empty cache")]
    private static partial void LogUnreadable(ILogger logger, string path, string exceptionType, string reason, Exception exception);

    [LoggerMessage(EventId = LogEventIds.EhloCacheMovedAside, Level = LogLevel.Warning, Message = "EHLO cache: moved {File} aside to {Target}")]
    private static partial void LogMovedAside(ILogger logger, string file, string target);

    [LoggerMessage(EventId = LogEventIds.EhloCachePersistenceOff, Level = LogLevel.Error,
        Message = "EHLO cache {Path} cannot be created ({Reason}); the cache is kept in memory only until restart")]
    private static partial void LogPersistenceOff(ILogger logger, string path, string reason, Exception exception);

    [LoggerMessage(EventId = LogEventIds.EhloCacheInUse, Level = LogLevel.Error,
        Message = "EHLO cache {Path} cannot be locked ({Reason}): another process (or cache) is using it; this one is kept in memory only")]
    private static partial void LogInUse(ILogger logger, string path, string reason);

    [LoggerMessage(EventId = LogEventIds.EhloCacheRecordDropped, Level = LogLevel.Warning, Message = "EHLO cache {Path}: dropped unreadable record {Id}")]
    private static partial void LogRecordDropped(ILogger logger, string path, string id);

    [LoggerMessage(EventId = LogEventIds.EhloCacheCloseFailed, Level = LogLevel.Warning, Message = "EHLO cache {Path}: closing failed: {Reason}")]
    private static partial void LogCloseFailed(ILogger logger, string path, string reason);
}
