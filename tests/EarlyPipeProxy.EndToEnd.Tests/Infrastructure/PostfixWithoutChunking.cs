using System.Globalization;

namespace EarlyPipeProxy.EndToEnd.Tests.Infrastructure;

/// <summary>A Postfix instance of its own whose smtpd does not offer CHUNKING (and no STARTTLS), stopped on dispose.</summary>
public sealed class PostfixWithoutChunking : IAsyncDisposable
{
    private readonly Dictionary<string, string> _env;

    private PostfixWithoutChunking(Dictionary<string, string> env, int port, string dir)
    {
        _env = env;
        Port = port;
        Log = new LogFile(Path.Combine(dir, "maillog"));
        Maildir = new Maildir(Path.Combine(dir, "mail"));
    }

    public int Port { get; }

    public LogFile Log { get; }

    public Maildir Maildir { get; }

    public static async Task<PostfixWithoutChunking> StartAsync(string name)
    {
        var port = Peers.FreePort();
        var env = new Dictionary<string, string>
        {
            ["PF_NAME"] = name,
            ["PF_PORT"] = port.ToString(CultureInfo.InvariantCulture),
            ["PF_PROXY_PORT"] = Peers.FreePort().ToString(CultureInfo.InvariantCulture),
            ["PF_TLS"] = "0",
            ["PF_MAIN_EXTRA"] = "smtpd_discard_ehlo_keywords = chunking",
        };
        await PeerScripts.RunCheckedAsync("postfix.sh", ["stop"], env);
        await PeerScripts.RunCheckedAsync("postfix.sh", ["start"], env);
        return new PostfixWithoutChunking(env, port, Path.Combine(Peers.StateDir, "postfix-" + name));
    }

    /// <summary>Postfix's "disconnect from" lines since <paramref name="mark"/>, once there are <paramref name="count"/>: its command counts (data=1, bdat=1).</summary>
    public async Task<string[]> DisconnectLinesAsync(long mark, int count)
    {
        return await Poll.UntilAsync(() => Lines(mark) is { } lines && lines.Length >= count ? lines : null, $"{count} Postfix disconnect line(s)");
    }

    public async ValueTask DisposeAsync() => await PeerScripts.RunAsync("postfix.sh", ["stop"], _env);

    // Sessions with a transaction only: the proxy's health probes (EHLO, XCLIENT, QUIT) disconnect too.
    private string[] Lines(long mark) =>
        [.. Log.LinesSince(mark).Where(l => l.Contains("]: disconnect from ", StringComparison.Ordinal) && l.Contains(" mail=", StringComparison.Ordinal))];
}
