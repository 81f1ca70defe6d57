using System.Text.RegularExpressions;

namespace EarlyPipeProxy.EndToEnd.Tests.Infrastructure;

/// <summary>
/// Reading an Exim server's "&lt;=" (message received) lines. With log_selector +pipelining their L field says how the
/// client talked: "L*" it early-pipelined (input before the banner, PIPECONNECT used), "L." the keyword was offered but
/// not used, "L" without either when it was not offered; a trailing "-" means PIPELINING was offered but not used.
/// </summary>
public static partial class EximReceipts
{
    /// <summary>Every "&lt;=" line since <paramref name="mark"/> for the message whose Message-ID (without brackets) is given.</summary>
    public static IReadOnlyList<string> ReceivedLines(LogFile log, long mark, string messageIdBare) =>
        log.LinesSince(mark)
            .Where(l => l.Contains(" <= ", StringComparison.Ordinal) && l.Contains(" id=" + messageIdBare + " ", StringComparison.Ordinal))
            .ToList();

    /// <summary>Waits for the "&lt;=" line of that message (Exim writes it before it answers end-of-data; the wait is for the log write).</summary>
    public static Task<string> WaitForReceivedLineAsync(LogFile log, long mark, string messageIdBare) =>
        log.WaitForLineAsync(
            mark,
            l => l.Contains(" <= ", StringComparison.Ordinal) && l.Contains(" id=" + messageIdBare + " ", StringComparison.Ordinal),
            $"Exim's <= line for id={messageIdBare}");

    /// <summary>The L field of a "&lt;=" line ("L*", "L.", "L.-", "L", "L-"), or null when there is none.</summary>
    public static string? PipeliningField(string receivedLine) =>
        receivedLine.Split(' ').FirstOrDefault(f => PipeliningFieldRegex().IsMatch(f));

    /// <summary>The client early-pipelined ("L*").</summary>
    public static bool EarlyPipelined(string receivedLine) => PipeliningField(receivedLine) is { } f && f.StartsWith("L*", StringComparison.Ordinal);

    /// <summary>The keyword was offered but the client did not send before the banner ("L." with or without "-").</summary>
    public static bool OfferedNotUsed(string receivedLine) => PipeliningField(receivedLine) is { } f && f.StartsWith("L.", StringComparison.Ordinal);

    [GeneratedRegex(@"^L[.*]?-?$")]
    private static partial Regex PipeliningFieldRegex();
}
