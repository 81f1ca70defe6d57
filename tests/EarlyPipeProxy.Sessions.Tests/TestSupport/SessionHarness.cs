using System.Net;
using EarlyPipeProxy.Sessions.Configuration;
using EarlyPipeProxy.Sessions.Inbound;
using EarlyPipeProxy.Sessions.Telemetry;

namespace EarlyPipeProxy.Sessions.Tests.TestSupport;

/// <summary>
/// One <see cref="InboundSession"/> between a <see cref="TestClient"/> and a <see cref="FakeBackend"/>, no sockets.
/// Short timeouts everywhere so that a broken session fails a test instead of hanging it.
/// </summary>
public sealed class SessionHarness : IAsyncDisposable
{
    public const string ProxyHostName = "proxy.test";
    public const string ClientEhlo = "EHLO client.example";

    public static readonly IPEndPoint DefaultClientEndPoint = new(IPAddress.Parse("127.0.0.7"), 40007);
    public static readonly IPEndPoint LocalEndPoint = new(IPAddress.Loopback, 2025);

    private readonly CancellationTokenSource _aborted = new();
    private readonly CancellationTokenSource _closeRequested = new();
    private readonly CancellationTokenSource _stopCutOff = new();
    private Task? _run;

    public SessionHarness(FakeBackendOptions? backend = null, Action<InboundListenerOptions>? configure = null, IPEndPoint? client = null, ProxyMetrics? metrics = null,
        InboundListener? listener = null, ClientNameResolver? clientNames = null)
    {
        // A listener passed in is shared with an earlier session (its certificate context, for TLS resumption); its
        // options stand as they are.
        Options = listener?.Options ?? new InboundListenerOptions
        {
            Name = "test",
            Listen = "127.0.0.1:2025",
            HostName = ProxyHostName,
            Backend = { Address = "127.0.0.1:2525", ClientIdentity = ClientIdentityMode.None, LookupClientName = false },
            Timeouts =
            {
                // Long enough not to fire on a loaded machine, short enough that a hanging session fails fast;
                // tests about a timeout set their own, shorter one.
                BackendConnect = TimeSpan.FromSeconds(5),
                ClientNameLookup = TimeSpan.FromMilliseconds(200),
                Banner = TimeSpan.FromSeconds(5),
                Command = TimeSpan.FromSeconds(5),
                Data = TimeSpan.FromSeconds(5),
                BackendReply = TimeSpan.FromSeconds(5),
                TlsHandshake = TimeSpan.FromSeconds(5),
            },
        };
        if (listener is null)
        {
            configure?.Invoke(Options);
        }

        Listener = listener ?? new InboundListener(Options, clientNames);
        Connector = new FakeBackendConnector(backend ?? FakeBackendOptions.Lockstep());
        Client = new TestClient();
        Client.Diagnostics = Describe;
        Session = new InboundSession(Listener, Client.SessionSide, client ?? DefaultClientEndPoint, LocalEndPoint, Connector, Log, metrics);
    }

    public InboundListenerOptions Options { get; }

    public ListLogger Log { get; } = new();

    public InboundListener Listener { get; }

    public FakeBackendConnector Connector { get; }

    public TestClient Client { get; }

    public InboundSession Session { get; }

    /// <summary>The session's run; completes when it ends (its exception, if any, surfaces when awaited).</summary>
    public Task Run => _run ?? throw new InvalidOperationException("not started");

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

    /// <summary>Starts the session and reads the greeting, as a client that waits for it.</summary>
    public async Task StartAndReadBannerAsync()
    {
        Start();
        Assert.Equal([FakeBackendOptions.FinalBannerLine], await Client.ReadReplyAsync());
    }

    /// <summary>Banner, then EHLO and its reply; returns the reply's lines.</summary>
    public async Task<string[]> StartAndEhloAsync()
    {
        await StartAndReadBannerAsync();
        await Client.SendAsync(ClientEhlo + "\r\n");
        var reply = await Client.ReadReplyAsync();
        Assert.StartsWith("250", reply[0], StringComparison.Ordinal);
        return reply;
    }

    public Task<FakeBackend> BackendAsync() => Connector.BackendAsync();

    /// <summary>The session's log and each backend's transcript, for failure messages.</summary>
    public string Describe()
        => "session log:\n" + string.Join("\n", Log.Lines) + "\n" + string.Join("\n", Connector.Backends.Select(b => "backend:\n" + b.Describe()));

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
            Assert.Fail("the session did not end");
        }
    }

    public async ValueTask DisposeAsync()
    {
        // A session that is still running is told the client went away, then aborted.
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

        await Connector.DisposeAsync();
        _aborted.Dispose();
        _closeRequested.Dispose();
        _stopCutOff.Dispose();

        // RunAsync must never throw: the host would only log it, and the client would get no reply at all.
        if (_run is { IsFaulted: true })
        {
            Assert.Fail("InboundSession.RunAsync threw: " + _run.Exception!.InnerException);
        }
    }

}
