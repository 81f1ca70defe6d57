using System.Net;
using EarlyPipeProxy.Sessions.Configuration;
using EarlyPipeProxy.Sessions.EhloCache;
using EarlyPipeProxy.Sessions.Outbound;
using EarlyPipeProxy.Sessions.Telemetry;
using Microsoft.Extensions.Time.Testing;
using EhloCacheStore = EarlyPipeProxy.Sessions.EhloCache.EhloCache;

namespace EarlyPipeProxy.Sessions.Tests.TestSupport;

/// <summary>
/// One <see cref="OutboundSession"/> between a legacy sender (a <see cref="TestClient"/>) and a remote server (a
/// <see cref="FakeBackend"/>), no sockets, with an EHLO cache in memory on a fake clock. Short timeouts everywhere so
/// that a broken session fails a test instead of hanging it.
/// </summary>
public sealed class OutboundSessionHarness : IAsyncDisposable
{
    public const string ProxyHostName = "proxy.test";
    public const string SenderName = "sender.example";
    public const string SenderEhlo = "EHLO " + SenderName;
    public const string LocalBanner = "220 " + ProxyHostName + " ESMTP";

    public static readonly IPEndPoint SenderEndPoint = new(IPAddress.Parse("127.0.0.9"), 40009);

    /// <summary>
    /// The key the session computes for Upstream 127.0.0.1:2525: the route source toward a loopback address is the
    /// loopback address itself.
    /// </summary>
    public static readonly EhloCacheKey CacheKey = new(IPAddress.Loopback, IPAddress.Loopback, 2525, TlsPhase.Cleartext);

    private readonly CancellationTokenSource _aborted = new();
    private readonly CancellationTokenSource _closeRequested = new();
    private readonly CancellationTokenSource _stopCutOff = new();
    private readonly OutboundSessionHarness? _after;
    private Task? _run;

    /// <param name="after">
    /// A harness whose proxy this session shares: its listener (and so its parked warm connections), its remote
    /// connector and its EHLO cache, as the next sender session on the same proxy. That harness owns them; dispose this
    /// one first.
    /// </param>
    public OutboundSessionHarness(FakeBackendOptions? remote = null, EhloCacheOptions? cache = null, Action<OutboundListenerOptions>? configure = null,
        ProxyMetrics? metrics = null, OutboundListener? listener = null, OutboundSessionHarness? after = null)
    {
        _after = after;
        listener ??= after?.Listener;

        // A listener passed in is shared with an earlier session (its certificate context, for TLS resumption); its
        // options stand as they are.
        Options = listener?.Options ?? new OutboundListenerOptions
        {
            Name = "test-out",
            Listen = "127.0.0.1:2526",
            Upstream = "127.0.0.1:2525",
            HostName = ProxyHostName,

            // These tests are about the SMTP exchange; TLS toward the remote is proven against Exim (OutboundTlsTests).
            Tls = { Mode = OutboundTlsMode.None },
            Timeouts =
            {
                // Long enough not to fire on a loaded machine, short enough that a hanging session fails fast.
                BackendConnect = TimeSpan.FromSeconds(5),
                Banner = TimeSpan.FromSeconds(5),
                Command = TimeSpan.FromSeconds(5),
                Data = TimeSpan.FromSeconds(5),
                BackendReply = TimeSpan.FromSeconds(5),
                TlsHandshake = TimeSpan.FromSeconds(5),
            },

            // Each test's remote sees QUIT at the end, as without the cache; warm connections are OutboundWarmConnectionTests'.
            ConnectionCache = { Enabled = false },
        };
        if (listener is null)
        {
            configure?.Invoke(Options);
        }

        Listener = listener ?? new OutboundListener(Options);
        Cache = after?.Cache ?? EhloCacheStore.Open(cache ?? new EhloCacheOptions(), Time, Log);
        Connector = after?.Connector ?? new FakeBackendConnector(remote ?? FakeBackendOptions.Lockstep());
        Client = new TestClient { Diagnostics = Describe };
        Session = new OutboundSession(Listener, Client.SessionSide, SenderEndPoint, Listener.Upstream!, Connector, Cache, Log, metrics);
    }

    public OutboundListenerOptions Options { get; }

    public OutboundListener Listener { get; }

    /// <summary>The clock of the cache: entries stay fresh unless a test moves it.</summary>
    public FakeTimeProvider Time { get; } = new();

    public ListLogger Log { get; } = new();

    public EhloCacheStore Cache { get; }

    public FakeBackendConnector Connector { get; }

    public TestClient Client { get; }

    public OutboundSession Session { get; }

    /// <summary>The session's run; completes when it ends (its exception, if any, surfaces when awaited).</summary>
    public Task Run => _run ?? throw new InvalidOperationException("not started");

    /// <summary>Whether the cache holds an entry (fresh or not) for the session's remote.</summary>
    public bool IsCached => Cache.List().Any(entry => entry.Key == CacheKey);

    /// <summary>
    /// The EHLO reply <paramref name="remote"/> gives this sender, as the cache stores lines: what a previous session
    /// would have learnt.
    /// </summary>
    public static string[] EhloLines(FakeBackendOptions remote)
    {
        string[] texts = [$"{FakeBackendOptions.HostName} Hello {SenderName}", .. remote.Keywords];
        return [.. texts.Select((text, i) => (i == texts.Length - 1 ? "250 " : "250-") + text)];
    }

    /// <summary>
    /// Stores the remote's EHLO reply (by default as <see cref="FakeBackendConnector.Options"/> give it) as a previous
    /// session would have, after a 220 banner.
    /// </summary>
    public void SeedCache(FakeBackendOptions? remote = null)
    {
        var outcome = Cache.Learn(CacheKey, 220, EhloLines(remote ?? Connector.Options));
        Assert.Equal(EhloLearnOutcome.Stored, outcome);
    }

    public void Start() => _run = Task.Run(async () =>
    {
        try
        {
            await Session.RunAsync(_aborted.Token, _closeRequested.Token, _stopCutOff.Token);
        }
        finally
        {
            Client.SessionEnded();
        }
    });

    /// <summary>Starts the session and reads its banner, which must be <paramref name="expected"/>.</summary>
    public async Task StartAndReadBannerAsync(string expected)
    {
        Start();
        Assert.Equal([expected], await Client.ReadReplyAsync());
    }

    /// <summary>Sends one command and reads its reply, as a lockstep sender does.</summary>
    public async Task<string[]> CommandAsync(string command)
    {
        await Client.SendAsync(command + "\r\n");
        return await Client.ReadReplyAsync();
    }

    /// <summary>
    /// Banner, EHLO, then MAIL and each RCPT one at a time, as a legacy lockstep sender talks; MAIL must get 250.
    /// Returns the RCPT replies.
    /// </summary>
    public async Task<string[][]> StartTransactionAsync(string expectedBanner, params string[] recipients)
    {
        await StartAndReadBannerAsync(expectedBanner);
        Assert.StartsWith("250 ", (await CommandAsync(SenderEhlo))[^1], StringComparison.Ordinal);
        Assert.Equal(["250 2.1.0 Ok"], await CommandAsync(HarnessExtensions.Sender));
        var replies = new List<string[]>();
        foreach (var recipient in recipients)
        {
            replies.Add(await CommandAsync(recipient));
        }

        return [.. replies];
    }

    /// <summary>DATA (which must get the go-ahead), the dot-stuffed body and its terminator; returns the end-of-data reply.</summary>
    public async Task<string[]> SendMessageAsync(string stuffedBody)
    {
        Assert.Equal(["354 End data with <CR><LF>.<CR><LF>"], await CommandAsync("DATA"));
        await Client.SendAsync(stuffedBody + ".\r\n");
        return await Client.ReadReplyAsync();
    }

    /// <summary>QUIT: 221, then the session ends and the sender reads nothing more.</summary>
    public async Task QuitAsync()
    {
        Assert.Equal(["221 2.0.0 Bye"], await CommandAsync("QUIT"));
        await WaitForEndAsync();
        Assert.Equal(string.Empty, await Client.ReadToEndAsync());
    }

    public Task<FakeBackend> RemoteAsync() => Connector.BackendAsync();

    /// <summary>The session's log and each remote connection's transcript, for failure messages.</summary>
    public string Describe()
        => "session log:\n" + string.Join("\n", Log.Lines) + "\n" + string.Join("\n", Connector.Backends.Select(b => "remote:\n" + b.Describe()));

    /// <summary>Asks for a graceful end, as the host does when it stops.</summary>
    public void RequestClose() => _closeRequested.Cancel();

    /// <summary>A graceful stop's cut-off, as the host passes it halfway through its ShutdownTimeout.</summary>
    public void PassStopCutOff() => _stopCutOff.Cancel();

    /// <summary>The session's hard abort, as the host's ShutdownTimeout or a second SIGTERM gives it.</summary>
    public void Abort() => _aborted.Cancel();

    /// <summary>Waits for the session to end on its own; fails if it does not.</summary>
    public async Task WaitForEndAsync()
    {
        try
        {
            await Run.WaitAsync(Wire.Patience);
        }
        catch (TimeoutException)
        {
            Assert.Fail("the session did not end\n" + Describe());
        }
    }

    public async ValueTask DisposeAsync()
    {
        // A session that is still running is told the sender went away, then aborted.
        Client.Disconnect();
        await _aborted.CancelAsync();
        if (_run is not null)
        {
            try
            {
                await _run.WaitAsync(Wire.Patience);
            }
            catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
            {
            }
        }

        if (_after is null)
        {
            await Listener.WarmConnections.CloseAsync();
            await Connector.DisposeAsync();
            await Cache.DisposeAsync();
        }

        _aborted.Dispose();
        _closeRequested.Dispose();
        _stopCutOff.Dispose();

        // RunAsync must never throw: the host would only log it, and the sender would get no reply at all.
        if (_run is { IsFaulted: true })
        {
            Assert.Fail("OutboundSession.RunAsync threw: " + _run.Exception!.InnerException + "\n" + Describe());
        }
    }
}
