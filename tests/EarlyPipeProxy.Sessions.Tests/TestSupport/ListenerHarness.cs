using System.IO.Pipelines;
using System.Net;
using EarlyPipeProxy.Host.Hosting;
using EarlyPipeProxy.Sessions.Configuration;
using EarlyPipeProxy.Sessions.Inbound;
using EarlyPipeProxy.Sessions.Telemetry;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging.Abstractions;

namespace EarlyPipeProxy.Sessions.Tests.TestSupport;

/// <summary>
/// An inbound listener as Kestrel runs it, without sockets: each <see cref="Connect"/> hands the host's
/// <see cref="InboundConnectionHandler"/> an in-memory connection from the given address, so that what happens before
/// the session (a load balancer's PROXY header, the connection limits) runs as in the proxy. Every connection's backend
/// is a <see cref="FakeBackend"/>.
/// </summary>
public sealed class ListenerHarness : IAsyncDisposable
{
    public static readonly IPEndPoint LocalEndPoint = new(IPAddress.Loopback, 2025);

    private readonly List<(TestClient Client, Task Run, CancellationTokenSource Closed)> _connections = [];
    private readonly GracefulStop _stop;
    private readonly InboundConnectionHandler _handler;

    public ListenerHarness(FakeBackendOptions backend, Action<InboundListenerOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        var options = new InboundListenerOptions
        {
            Name = "lb",
            Listen = "127.0.0.1:2025",
            HostName = SessionHarness.ProxyHostName,
            Backend = { Address = "127.0.0.1:2525", ClientIdentity = ClientIdentityMode.Xclient, LookupClientName = false },
            Timeouts =
            {
                BackendConnect = TimeSpan.FromSeconds(5),
                Banner = TimeSpan.FromSeconds(5),
                Command = TimeSpan.FromSeconds(5),
                Data = TimeSpan.FromSeconds(5),
                BackendReply = TimeSpan.FromSeconds(5),
            },
        };
        configure(options);
        Listener = new InboundListener(options);
        Connector = new FakeBackendConnector(backend);
        _stop = new GracefulStop(TimeSpan.FromSeconds(30), new IdleLifetime(), NullLogger<GracefulStop>.Instance);
        _handler = new InboundConnectionHandler(Connector, Metrics, new SessionConnectionRunner(Metrics, new TypedLogger<SessionConnectionRunner>(Log)),
            _stop, new TypedLogger<InboundSession>(Log));
    }

    public InboundListener Listener { get; }

    public FakeBackendConnector Connector { get; }

    public ProxyMetrics Metrics { get; } = new();

    public ListLogger Log { get; } = new();

    /// <summary>A connection from <paramref name="peer"/>; the handler runs it at once. The test writes and reads on the returned client.</summary>
    public TestClient Connect(IPEndPoint peer)
    {
        var client = new TestClient { Diagnostics = Describe };
        var closed = new CancellationTokenSource();
        var unused = new Pipe();
        var context = new DefaultConnectionContext(Guid.NewGuid().ToString("N"), client.SessionSide, new DuplexPipe(unused.Reader, unused.Writer))
        {
            RemoteEndPoint = peer,
            LocalEndPoint = LocalEndPoint,
            ConnectionClosed = closed.Token,
        };
        context.Features.Set(new InboundListenerFeature(Listener));
        var run = Task.Run(async () =>
        {
            try
            {
                await _handler.OnConnectedAsync(context);
            }
            finally
            {
                // As Kestrel does when a connection handler returns.
                client.SessionEnded();
            }
        });
        lock (_connections)
        {
            _connections.Add((client, run, closed));
        }

        return client;
    }

    /// <summary>Waits until the handler of <paramref name="client"/>'s connection returned.</summary>
    public async Task WaitForEndAsync(TestClient client)
    {
        var (_, run, closed) = _connections.Single(c => c.Client == client);
        // The handler waits for the connection's close after the session's last words; the test client took them.
        await closed.CancelAsync();
        await run.WaitAsync(Wire.Patience);
    }

    public string Describe()
        => "log:\n" + string.Join("\n", Log.Lines) + "\n" + string.Join("\n", Connector.Backends.Select(b => "backend:\n" + b.Describe()));

    public async ValueTask DisposeAsync()
    {
        foreach (var (client, run, closed) in _connections)
        {
            client.Disconnect();
            await closed.CancelAsync();
            try
            {
                await run.WaitAsync(Wire.Patience);
            }
            catch (TimeoutException)
            {
            }

            closed.Dispose();
        }

        await Connector.DisposeAsync();
        _stop.Dispose();
        Metrics.Dispose();
    }
}
