using EarlyPipeProxy.Sessions.Logging;
using Microsoft.Extensions.Logging;

namespace EarlyPipeProxy.Sessions.EhloCache;

public sealed partial class EhloCache
{
    [LoggerMessage(EventId = LogEventIds.EhloCacheOpened, Level = LogLevel.Information, Message = "EHLO cache {Path}: {Count} entries loaded")]
    private static partial void LogOpened(ILogger logger, string path, int count);

    [LoggerMessage(EventId = LogEventIds.EhloCacheLearnt, Level = LogLevel.Information, Message = "EHLO cache: learnt {Key}, offers {Keyword}")]
    private static partial void LogLearnt(ILogger logger, EhloCacheKey key, string keyword);

    [LoggerMessage(EventId = LogEventIds.EhloCacheRewritten, Level = LogLevel.Information, Message = "EHLO cache: {Key} changed its extensions, entry rewritten (offers {Keyword})")]
    private static partial void LogRewritten(ILogger logger, EhloCacheKey key, string keyword);

    [LoggerMessage(EventId = LogEventIds.EhloCacheFlushed, Level = LogLevel.Information, Message = "EHLO cache: flushed {Key}: {Reason}")]
    private static partial void LogFlushed(ILogger logger, EhloCacheKey key, EhloCacheFlushReason reason);
}
