using Microsoft.Extensions.Logging;

namespace EarlyPipeProxy.Sessions.EhloCache;

public sealed partial class EhloCache
{
    [LoggerMessage(EventId = 620, Level = LogLevel.Information, Message = "EHLO cache {Path}: {Count} entries loaded")]
    private static partial void LogOpened(ILogger logger, string path, int count);

    [LoggerMessage(EventId = 621, Level = LogLevel.Information, Message = "EHLO cache: learnt {Key}, offers {Keyword}")]
    private static partial void LogLearnt(ILogger logger, EhloCacheKey key, string keyword);

    [LoggerMessage(EventId = 622, Level = LogLevel.Information, Message = "EHLO cache: {Key} changed its extensions, entry rewritten (offers {Keyword})")]
    private static partial void LogRewritten(ILogger logger, EhloCacheKey key, string keyword);

    [LoggerMessage(EventId = 623, Level = LogLevel.Information, Message = "EHLO cache: flushed {Key}: {Reason}")]
    private static partial void LogFlushed(ILogger logger, EhloCacheKey key, EhloCacheFlushReason reason);
}
