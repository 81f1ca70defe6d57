using System.Diagnostics.CodeAnalysis;
using System.Text;
using EarlyPipeProxy.Protocol.Capabilities;

namespace EarlyPipeProxy.Sessions.EhloCache;

/// <summary>
/// One cached EHLO reply: the lines as the server sent them (code and separator included, CRLF not), the banner code,
/// when it was learnt and when a live session last confirmed it. Immutable: the cache swaps whole entries.
/// </summary>
public sealed class EhloCacheEntry
{
    private readonly EhloCapabilities _capabilities;

    private EhloCacheEntry(EhloCacheKey key, int bannerCode, string[] replyLines, EhloCapabilities capabilities,
        DateTimeOffset learntAt, DateTimeOffset lastConfirmedAt)
    {
        Key = key;
        BannerCode = bannerCode;
        ReplyLines = replyLines;
        _capabilities = capabilities;
        LearntAt = learntAt;
        LastConfirmedAt = lastConfirmedAt;
        EarlyPipeKeyword = EarlyPipeKeywords.FindKeyword(capabilities);
        OffersEarlyPipelining = EarlyPipeKeywords.OffersEarlyPipelining(capabilities);
    }

    public EhloCacheKey Key { get; }

    public int BannerCode { get; }

    /// <summary>"250-mx.example.org Hello …", "250-PIPELINING", …, "250 PIPECONNECT": as received, without CRLF.</summary>
    public IReadOnlyList<string> ReplyLines { get; }

    public DateTimeOffset LearntAt { get; }

    public DateTimeOffset LastConfirmedAt { get; }

    /// <summary>The greeting text of the EHLO reply (after "250-").</summary>
    public string Greeting => _capabilities.Greeting;

    /// <summary>The extension keywords in the order the server listed them.</summary>
    public IReadOnlyList<EhloKeyword> Keywords => _capabilities.Keywords;

    /// <summary>The early-pipelining keyword the server offers (one of <see cref="EarlyPipeKeywords.Spellings"/>), or null.</summary>
    public string? EarlyPipeKeyword { get; }

    /// <summary>The keyword and PIPELINING are both offered: an early flight may be sent.</summary>
    public bool OffersEarlyPipelining { get; }

    /// <summary>A new, modifiable model of the reply, e.g. to answer a sender's EHLO from the cache.</summary>
    /// <remarks>
    /// A copy of the model parsed once in <see cref="TryCreate"/>, not a parse of <see cref="ReplyLines"/>: this runs
    /// for every session answered from the cache, and the caller edits what it gets, so it must never be the entry's own.
    /// </remarks>
    public EhloCapabilities CreateCapabilities() => _capabilities.Clone();

    /// <summary>
    /// Builds an entry from reply lines; false when they are not a well-formed 250 reply (the protocol layer decides).
    /// </summary>
    internal static bool TryCreate(EhloCacheKey key, int bannerCode, IReadOnlyList<string> replyLines,
        DateTimeOffset learntAt, DateTimeOffset lastConfirmedAt, [NotNullWhen(true)] out EhloCacheEntry? entry)
    {
        string[] lines = [.. replyLines];
        var capabilities = Parse(lines);
        entry = capabilities is null ? null : new EhloCacheEntry(key, bannerCode, lines, capabilities, learntAt, lastConfirmedAt);
        return entry is not null;
    }

    internal EhloCacheEntry WithLastConfirmed(DateTimeOffset confirmedAt) =>
        new(Key, BannerCode, (string[])ReplyLines, _capabilities, LearntAt, confirmedAt);

    /// <summary>
    /// Same extensions with the same parameters in the same order. The greeting is not compared: it usually echoes the
    /// client's name and address, and Exim compares only its feature bits.
    /// </summary>
    internal bool HasSameCapabilities(EhloCacheEntry other)
    {
        var mine = Keywords;
        var theirs = other.Keywords;
        if (mine.Count != theirs.Count || BannerCode != other.BannerCode)
        {
            return false;
        }

        for (var i = 0; i < mine.Count; i++)
        {
            if (!Ascii.EqualsIgnoreCase(mine[i].Name, theirs[i].Name)
                || !string.Equals(mine[i].Parameters, theirs[i].Parameters, StringComparison.Ordinal))
            {
                return false;
            }
        }

        return true;
    }

    private static EhloCapabilities? Parse(string[] lines) => EhloCapabilities.TryParse(lines, out var capabilities) ? capabilities : null;
}
