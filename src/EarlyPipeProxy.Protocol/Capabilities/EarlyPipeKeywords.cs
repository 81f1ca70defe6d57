namespace EarlyPipeProxy.Protocol.Capabilities;

/// <summary>
/// The EHLO keywords that announce early pipelining: PIPECONNECT (Exim ≥ 4.96), PIPE_CONNECT (4.95) and X_PIPE_CONNECT
/// (4.92-4.94). Exim as a client recognises only its own spelling; the proxy takes all three, since Debian 11's 4.94
/// servers are still common.
/// </summary>
public static class EarlyPipeKeywords
{
    public const string PipeConnect = "PIPECONNECT";
    public const string PipeConnectUnderscore = "PIPE_CONNECT";
    public const string ExperimentalPipeConnect = "X_PIPE_CONNECT";

    /// <summary>Newest spelling first: a server that lists two is answered with the current one.</summary>
    public static IReadOnlyList<string> Spellings { get; } = [PipeConnect, PipeConnectUnderscore, ExperimentalPipeConnect];

    /// <summary>The spelling the reply offers (as listed in <see cref="Spellings"/>), or null when it offers none.</summary>
    public static string? FindKeyword(EhloCapabilities capabilities)
    {
        ArgumentNullException.ThrowIfNull(capabilities);
        foreach (var spelling in Spellings)
        {
            if (capabilities.Contains(spelling))
            {
                return spelling;
            }
        }

        return null;
    }

    /// <summary>
    /// Early pipelining needs the keyword and PIPELINING together: Exim writes its cache only then (smtp.c, C2), and
    /// without PIPELINING the server has not promised to read a flight of commands at all.
    /// </summary>
    public static bool OffersEarlyPipelining(EhloCapabilities capabilities) =>
        FindKeyword(capabilities) is not null && capabilities.Contains(SmtpKeywords.Pipelining);
}
