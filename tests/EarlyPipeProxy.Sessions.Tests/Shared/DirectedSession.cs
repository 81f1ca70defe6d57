using EarlyPipeProxy.Sessions.Configuration;
using EarlyPipeProxy.Sessions.Telemetry;
using EarlyPipeProxy.Sessions.Tests.TestSupport;

namespace EarlyPipeProxy.Sessions.Tests.Shared;

/// <summary>
/// One session of either direction behind one face, so that a behaviour both directions must share is proven by one
/// test body: inbound a <see cref="SessionHarness"/> (client, proxy, backend), outbound an
/// <see cref="OutboundSessionHarness"/> (sender, proxy, remote; no cached EHLO reply, so the remote's banner is
/// awaited as inbound). "Peer" is the client or the sender, "upstream" the backend or the remote.
/// </summary>
public sealed class DirectedSession : IAsyncDisposable
{
    private readonly SessionHarness? _inbound;
    private readonly OutboundSessionHarness? _outbound;

    private DirectedSession(SessionHarness inbound)
    {
        _inbound = inbound;
        Direction = Telemetry.Direction.Inbound;
    }

    private DirectedSession(OutboundSessionHarness outbound)
    {
        _outbound = outbound;
        Direction = Telemetry.Direction.Outbound;
    }

    /// <summary><see cref="Telemetry.Direction.Inbound"/> or <see cref="Telemetry.Direction.Outbound"/>.</summary>
    public string Direction { get; }

    public TestClient Client => _inbound?.Client ?? _outbound!.Client;

    public ListLogger Log => _inbound?.Log ?? _outbound!.Log;

    /// <summary>The peer's EHLO command, as the upstream receives it too.</summary>
    public string Ehlo => _inbound is not null ? SessionHarness.ClientEhlo : OutboundSessionHarness.SenderEhlo;

    /// <summary>
    /// A session of <paramref name="direction"/> whose upstream follows <paramref name="upstream"/>. With
    /// <paramref name="peerTls"/> the proxy has the test certificate for its peer (Tls inbound, SenderTls outbound).
    /// <paramref name="sameListenerAs"/> gives the new session the listener (and so the certificate context) of an
    /// earlier one of the same direction, as a second connection to the same listener has.
    /// </summary>
    /// <param name="cleartextAuth">Inbound: AUTH offered and relayed without TLS (AllowCleartextAuth); outbound relays it anyway.</param>
    public static DirectedSession Create(string direction, FakeBackendOptions upstream, bool peerTls = false, Action<ListenerLimits>? limits = null,
        ProxyMetrics? metrics = null, DirectedSession? sameListenerAs = null, Action<SessionTimeouts>? timeouts = null, bool cleartextAuth = false) => direction switch
    {
        Telemetry.Direction.Inbound => new DirectedSession(new SessionHarness(upstream, o =>
        {
            if (peerTls)
            {
                TestCertificate.Configure(o);
            }

            limits?.Invoke(o.Limits);
            timeouts?.Invoke(o.Timeouts);
            o.AllowCleartextAuth = cleartextAuth;
        }, metrics: metrics, listener: sameListenerAs?._inbound?.Listener)),
        Telemetry.Direction.Outbound => new DirectedSession(new OutboundSessionHarness(upstream, configure: o =>
        {
            if (peerTls)
            {
                TestCertificate.Configure(o);
            }

            limits?.Invoke(o.Limits);
            timeouts?.Invoke(o.Timeouts);
        }, metrics: metrics, listener: sameListenerAs?._outbound?.Listener)),
        _ => throw new ArgumentOutOfRangeException(nameof(direction), direction, "inbound or outbound"),
    };

    /// <summary>Starts the session and reads the upstream's banner, relayed in both directions.</summary>
    public async Task StartAndReadBannerAsync()
    {
        if (_inbound is not null)
        {
            await _inbound.StartAndReadBannerAsync();
            return;
        }

        await _outbound!.StartAndReadBannerAsync(FakeBackendOptions.FinalBannerLine);
    }

    /// <summary>Banner, then EHLO, which must get 250; returns the EHLO reply.</summary>
    public async Task<string[]> StartAndEhloAsync()
    {
        await StartAndReadBannerAsync();
        var reply = await CommandAsync(Ehlo);
        Assert.StartsWith("250 ", reply[^1], StringComparison.Ordinal);
        return reply;
    }

    /// <summary>One command, then its reply, as a lockstep peer talks.</summary>
    public async Task<string[]> CommandAsync(string command)
    {
        await Client.SendAsync(command + "\r\n");
        return await Client.ReadReplyAsync();
    }

    public Task<FakeBackend> UpstreamAsync() => _inbound?.BackendAsync() ?? _outbound!.RemoteAsync();

    /// <summary>A graceful stop, as the host asks for one.</summary>
    public void RequestClose()
    {
        if (_inbound is not null)
        {
            _inbound.RequestClose();
            return;
        }

        _outbound!.RequestClose();
    }

    /// <summary>A graceful stop's cut-off: a message not yet ended is abandoned.</summary>
    public void PassStopCutOff()
    {
        if (_inbound is not null)
        {
            _inbound.PassStopCutOff();
            return;
        }

        _outbound!.PassStopCutOff();
    }

    /// <summary>The stop's hard end: the session is aborted.</summary>
    public void Abort()
    {
        if (_inbound is not null)
        {
            _inbound.Abort();
            return;
        }

        _outbound!.Abort();
    }

    /// <summary>The session's run; completes when it ends.</summary>
    public Task Run => _inbound?.Run ?? _outbound!.Run;

    public Task WaitForEndAsync() => _inbound?.WaitForEndAsync() ?? _outbound!.WaitForEndAsync();

    /// <summary>The one session line ("session …" inbound, "outbound …" outbound).</summary>
    public string SessionLine()
    {
        var prefix = _inbound is not null ? "Information: session " : "Information: outbound ";
        return Assert.Single(Log.Lines, l => l.StartsWith(prefix, StringComparison.Ordinal));
    }

    public string Describe() => _inbound?.Describe() ?? _outbound!.Describe();

    public ValueTask DisposeAsync() => _inbound?.DisposeAsync() ?? _outbound!.DisposeAsync();

    public override string ToString() => Direction;
}
