using System.Diagnostics.CodeAnalysis;
using EarlyPipeProxy.Sessions.EhloCache;

namespace EarlyPipeProxy.Host.Control;

/// <summary>
/// One request to the EHLO cache: `list`, `show HOST[:PORT]`, `flush` or `flush HOST[:PORT]`. The same text is the CLI's
/// arguments and the control socket's request line, so both are checked by one parser.
/// </summary>
public sealed record CacheRequest(CacheVerb Verb, EhloCacheHostFilter? Filter)
{
    public static bool TryParse(string? line, [NotNullWhen(true)] out CacheRequest? request, [NotNullWhen(false)] out string? error)
    {
        request = null;
        var words = (line ?? string.Empty).Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        if (words.Length == 0)
        {
            error = "empty request";
            return false;
        }

        CacheVerb verb;
        switch (words[0].ToUpperInvariant())
        {
            case "LIST" when words.Length == 1:
                verb = CacheVerb.List;
                break;
            case "SHOW" when words.Length == 2:
                verb = CacheVerb.Show;
                break;
            case "FLUSH" when words.Length <= 2:
                verb = CacheVerb.Flush;
                break;
            case "LIST" or "SHOW" or "FLUSH":
                error = $"wrong arguments for {words[0].ToLowerInvariant()} (list | show HOST[:PORT] | flush [HOST[:PORT]])";
                return false;
            default:
                error = "unknown request (list | show HOST[:PORT] | flush [HOST[:PORT]])";
                return false;
        }

        EhloCacheHostFilter? filter = null;
        if (words.Length == 2)
        {
            if (!EhloCacheHostFilter.TryParse(words[1], out filter))
            {
                // Names are not resolved: the cache is keyed by the address a session actually connected to.
                error = $"'{words[1]}' is not an IP address, ADDRESS:PORT or [IPv6]:PORT";
                return false;
            }
        }

        request = new CacheRequest(verb, filter);
        error = null;
        return true;
    }

    /// <summary>The request line, as the control socket takes it.</summary>
    public override string ToString() =>
        Filter is { } filter ? $"{Verb.ToString().ToLowerInvariant()} {filter}" : Verb.ToString().ToLowerInvariant();
}
