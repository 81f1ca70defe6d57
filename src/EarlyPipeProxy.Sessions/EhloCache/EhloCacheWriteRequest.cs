namespace EarlyPipeProxy.Sessions.EhloCache;

/// <summary>For the writer: a key whose state changed, or (with <see cref="Barrier"/>) a marker to complete once reached.</summary>
internal readonly record struct EhloCacheWriteRequest(EhloCacheKey Key, TaskCompletionSource? Barrier);
