using System.Globalization;
using System.Text;
using EarlyPipeProxy.Sessions.EhloCache;
using EarlyPipeProxy.Sessions.Logging;

namespace EarlyPipeProxy.Host.Control;

/// <summary>
/// Entries as the operator reads them: one line each, every field on it, so `grep` finds a remote and `awk` a field;
/// `show` adds the cached EHLO reply indented under its entry.
/// </summary>
public static class CacheEntryFormatter
{
    public static void AppendLine(StringBuilder text, EhloCacheEntry entry, DateTimeOffset now, bool fresh)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(entry);
        var key = entry.Key;
        text.Append(CultureInfo.InvariantCulture,
            $"[{key.RemoteAddress}]:{key.RemotePort} {Phase(key.Phase)} from {key.LocalAddress} {entry.EarlyPipeKeyword ?? "-"}")
            .Append(CultureInfo.InvariantCulture, $" learnt={Timestamp(entry.LearntAt)} confirmed={Timestamp(entry.LastConfirmedAt)}")
            .Append(CultureInfo.InvariantCulture, $" age={Age(now - entry.LearntAt)} {(fresh ? "fresh" : "expired")}")
            .Append('\n');
    }

    public static void AppendReply(StringBuilder text, EhloCacheEntry entry)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(entry);
        text.Append(CultureInfo.InvariantCulture, $"    banner {entry.BannerCode}\n");
        foreach (var line in entry.ReplyLines)
        {
            // The remote's own text: control characters (an escape sequence for the operator's terminal, say) are
            // shown escaped, never written as they are.
            text.Append("    ").Append(Printable.Of(line)).Append('\n');
        }
    }

    private static string Phase(TlsPhase phase) => phase switch
    {
        TlsPhase.Cleartext => "cleartext",
        TlsPhase.AfterStartTls => "starttls",
        TlsPhase.TlsOnConnect => "tls-on-connect",
        _ => phase.ToString(),
    };

    private static string Timestamp(DateTimeOffset time) =>
        time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    /// <summary>The largest whole unit: enough to see at a glance how close an entry is to its expiry (days by default).</summary>
    private static string Age(TimeSpan age)
    {
        var sign = age < TimeSpan.Zero ? "-" : string.Empty;
        age = age.Duration();
        return sign + (age.TotalSeconds < 60 ? $"{(int)age.TotalSeconds}s"
            : age.TotalMinutes < 60 ? $"{(int)age.TotalMinutes}m"
            : age.TotalHours < 48 ? $"{(int)age.TotalHours}h"
            : $"{(int)age.TotalDays}d");
    }
}
