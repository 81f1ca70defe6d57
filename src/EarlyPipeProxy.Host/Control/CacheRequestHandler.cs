using System.Text;
using EarlyPipeProxy.Sessions.EhloCache;

namespace EarlyPipeProxy.Host.Control;

/// <summary>
/// Answers a request against a cache, in the control socket's answer format: a first line `ok` or `error MESSAGE`,
/// then the text. The proxy answers through its socket and the CLI answers from the file with this same code, so the
/// output cannot differ between a running and a stopped proxy.
/// </summary>
public static class CacheRequestHandler
{
    public const string Ok = "ok";
    public const string ErrorPrefix = "error ";

    public static async ValueTask<string> AnswerAsync(EhloCache cache, CacheRequest request, TimeProvider time, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(cache);
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(time);

        var text = new StringBuilder(Ok).Append('\n');
        var now = time.GetUtcNow();
        switch (request.Verb)
        {
            case CacheVerb.List:
                foreach (var entry in cache.List())
                {
                    CacheEntryFormatter.AppendLine(text, entry, now, cache.IsFresh(entry));
                }

                break;

            case CacheVerb.Show:
                var found = cache.Find(request.Filter!.Value);
                if (found.Count == 0)
                {
                    return Error($"no entries for {request.Filter}");
                }

                foreach (var entry in found)
                {
                    CacheEntryFormatter.AppendLine(text, entry, now, cache.IsFresh(entry));
                    CacheEntryFormatter.AppendReply(text, entry);
                }

                break;

            case CacheVerb.Flush:
                var flushed = cache.FlushAll(request.Filter);

                // "flushed" is a promise that the entries are gone from the file too, not only from memory.
                await cache.WaitForPendingWritesAsync(cancellationToken);
                text.Append($"flushed {flushed} entries\n");
                break;
        }

        return text.ToString();
    }

    /// <summary>
    /// One line whatever the message quotes: a client's bytes echoed back (or logged) must not forge answer lines or
    /// terminal escapes.
    /// </summary>
    public static string Error(string message)
    {
        ArgumentNullException.ThrowIfNull(message);
        var text = new StringBuilder(ErrorPrefix, ErrorPrefix.Length + message.Length + 1);
        foreach (var c in message)
        {
            text.Append(char.IsControl(c) ? '?' : c);
        }

        return text.Append('\n').ToString();
    }
}
