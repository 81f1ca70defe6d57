using System.Text.RegularExpressions;

namespace EarlyPipeProxy.EndToEnd.Tests.Infrastructure;

/// <summary>All end-to-end tests share one Postfix instance ("e2e") and run one at a time.</summary>
[CollectionDefinition(Name)]
public sealed class EndToEndCollection : ICollectionFixture<PostfixFixture>
{
    public const string Name = "end-to-end";
}

/// <summary>
/// One Postfix 3.7 backend for the whole run, started lazily by the first test that needs it
/// (so that tests can skip cleanly when the peers are not available) through tests/peers/postfix.sh.
/// </summary>
public sealed partial class PostfixFixture : IAsyncLifetime, IDisposable
{
    public const string InstanceName = "e2e";
    public const string Domain = "backend.test";

    private readonly SemaphoreSlim _startLock = new(1, 1);
    private bool _started;

    public PostfixFixture()
    {
        Dir = Path.Combine(Peers.StateDir, "postfix-" + InstanceName);
        Log = new LogFile(Path.Combine(Dir, "maillog"));
        Maildir = new Maildir(Path.Combine(Dir, "mail"));
    }

    public string Dir { get; }

    /// <summary>Plain smtpd; XCLIENT is allowed from 127.0.0.1.</summary>
    public int SmtpPort { get; private set; }

    /// <summary>smtpd with smtpd_upstream_proxy_protocol = haproxy (PROXY v1/v2 header required).</summary>
    public int ProxyProtocolPort { get; private set; }

    /// <summary>
    /// Plain smtpd like <see cref="SmtpPort"/>, but it sleeps <see cref="SlowEndOfDataSeconds"/> after each end of data
    /// before its verdict (smtpd_end_of_data_restrictions = sleep): a backend whose verdict is still to come.
    /// </summary>
    public int SlowEndOfDataPort { get; private set; }

    public const int SlowEndOfDataSeconds = 4;

    public LogFile Log { get; }

    public Maildir Maildir { get; }

    private Dictionary<string, string> Env => new()
    {
        ["PF_NAME"] = InstanceName,
        ["PF_PORT"] = SmtpPort.ToString(),
        ["PF_PROXY_PORT"] = ProxyProtocolPort.ToString(),
        ["PF_SLOW_PORT"] = SlowEndOfDataPort.ToString(),
        ["PF_SLOW_SECONDS"] = SlowEndOfDataSeconds.ToString(),
    };

    /// <summary>Skips (or, with CI=true, fails) when the peers are unavailable; else starts Postfix once.</summary>
    public async Task EnsureStartedAsync()
    {
        Peers.Require();
        await _startLock.WaitAsync();
        try
        {
            if (_started)
            {
                return;
            }

            SmtpPort = Peers.FreePort();
            ProxyProtocolPort = Peers.FreePort();
            SlowEndOfDataPort = Peers.FreePort();
            // a leftover instance from an aborted run would still listen on its old ports
            await PeerScripts.RunCheckedAsync("postfix.sh", ["stop"], Env);
            await PeerScripts.RunCheckedAsync("postfix.sh", ["start"], Env);
            _started = true;
        }
        finally
        {
            _startLock.Release();
        }
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_started)
        {
            await PeerScripts.RunAsync("postfix.sh", ["stop"], Env);
        }

    }

    public void Dispose() => _startLock.Dispose();

    /// <summary>
    /// Waits until every smtpd session logged since <paramref name="mark"/> has ended and at least
    /// <paramref name="minSessions"/> began.
    /// </summary>
    public Task WaitForSessionsToEndAsync(long mark, int minSessions = 1, TimeSpan? timeout = null) =>
        Poll.UntilAsync(
            () =>
            {
                var text = Log.ReadSince(mark);
                var connects = ConnectRegex().Count(text);
                var disconnects = DisconnectRegex().Count(text);
                return connects >= minSessions && disconnects >= connects;
            },
            $"at least {minSessions} Postfix session(s) to begin and all to end",
            timeout);

    /// <summary>
    /// Sends a sentinel message straight to Postfix and waits until it is delivered: anything Postfix
    /// accepted before it has had its chance to be delivered as well.
    /// </summary>
    public async Task SettleAsync()
    {
        var marker = "sentinel-" + Guid.NewGuid().ToString("N");
        await using (var c = await RawSmtpClient.ConnectAsync("127.0.0.1", SmtpPort))
        {
            await c.ExpectAsync(220);
            await c.CommandAsync("EHLO sentinel.test", 250);
            await c.CommandAsync("MAIL FROM:<sentinel@peers.test>", 250);
            await c.CommandAsync($"RCPT TO:<{marker}@{Domain}>", 250);
            await c.CommandAsync("DATA", 354);
            await c.CommandAsync($"Subject: {marker}\r\n\r\nsentinel\r\n.", 250);
            await c.CommandAsync("QUIT", 221);
        }

        await Maildir.WaitForMessageAsync(marker);
    }

    /// <summary>Postfix rejects pre-greeting or unannounced pipelined input (smtpd_forbid_unauth_pipelining).</summary>
    public void AssertNoPipeliningViolations(long mark)
    {
        var bad = Log.LinesSince(mark)
            .Where(l => l.Contains("improper command pipelining", StringComparison.OrdinalIgnoreCase)
                     || l.Contains("synchronization", StringComparison.OrdinalIgnoreCase))
            .ToList();
        Assert.True(bad.Count == 0, "Postfix saw illegal pipelining:\n" + string.Join('\n', bad));
    }

    public static string Address(string localPart) => $"{localPart}@{Domain}";

    [GeneratedRegex(@"\]: connect from ")]
    private static partial Regex ConnectRegex();

    [GeneratedRegex(@"\]: disconnect from ")]
    private static partial Regex DisconnectRegex();
}
