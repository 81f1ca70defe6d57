using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using EarlyPipeProxy.Host.Hosting;
using EarlyPipeProxy.Sessions.Tests.TestSupport;
using EarlyPipeProxy.Sessions.Transport;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace EarlyPipeProxy.Sessions.Tests.Host;

/// <summary>
/// The SMTP listeners' transport inside Kestrel, registered as ProxyHost does (after Kestrel's socket transport): a
/// listener's address gets our connections with its feature, any other address (/metrics) stays on Kestrel's sockets;
/// Kestrel's graceful stop still reaches a connection handler on our connection (its close-requested token).
/// </summary>
public sealed class SmtpListenerTransportRegistrationTests
{
    [Fact]
    public async Task Kestrel_gives_the_listeners_address_to_our_transport_the_others_to_its_sockets_and_a_stop_reaches_our_handler()
    {
        var smtp = new IPEndPoint(IPAddress.Loopback, FreePort());
        var other = new IPEndPoint(IPAddress.Loopback, FreePort());
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.WebHost.UseSockets();
        builder.Services.AddSmtpListenerTransport(new Dictionary<IPEndPoint, object> { [smtp] = new ListenerName("mx") });
        builder.Services.AddSingleton<Seen>();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Listen(smtp, listen => listen.UseConnectionHandler<RecordingHandler>());
            kestrel.Listen(other, listen => listen.UseConnectionHandler<RecordingHandler>());
        });
        await using var app = builder.Build();
        await app.StartAsync();
        var seen = app.Services.GetRequiredService<Seen>();

        using var smtpClient = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await smtpClient.ConnectAsync(smtp).WaitAsync(Wire.Patience);
        using var otherClient = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await otherClient.ConnectAsync(other).WaitAsync(Wire.Patience);
        Assert.Equal("220 mx\r\n", await ReceiveAsync(smtpClient));
        Assert.Equal("220 -\r\n", await ReceiveAsync(otherClient));

        Assert.IsType<SmtpSocketConnection>(seen.Connections[smtp.Port]);
        Assert.IsNotType<SmtpSocketConnection>(seen.Connections[other.Port]);

        using var stopping = new CancellationTokenSource(Wire.Patience);
        await app.StopAsync(stopping.Token);
        Assert.Equal("421 stopping\r\n", await ReceiveAsync(smtpClient));
        Assert.Equal(0, await smtpClient.ReceiveAsync(new byte[16]).WaitAsync(Wire.Patience));
    }

    private static async Task<string> ReceiveAsync(Socket client)
    {
        var buffer = new byte[256];
        var received = await client.ReceiveAsync(buffer).WaitAsync(Wire.Patience);
        return Wire.Text(buffer.AsSpan(0, received));
    }

    private static int FreePort()
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)probe.LocalEndPoint!).Port;
    }

    private sealed record ListenerName(string Name);

    private sealed class Seen
    {
        public ConcurrentDictionary<int, ConnectionContext> Connections { get; } = new();
    }

    private sealed class RecordingHandler(Seen seen) : ConnectionHandler
    {
        public override async Task OnConnectedAsync(ConnectionContext connection)
        {
            seen.Connections[((IPEndPoint)connection.LocalEndPoint!).Port] = connection;
            var name = connection.Features.Get<ListenerName>()?.Name ?? "-";
            await connection.Transport.Output.WriteAsync(Wire.Bytes($"220 {name}\r\n"));
            var stop = connection.Features.Get<IConnectionLifetimeNotificationFeature>()!.ConnectionClosedRequested;
            await Task.Delay(Timeout.Infinite, stop).ContinueWith(_ => { }, TaskScheduler.Default);
            await connection.Transport.Output.WriteAsync(Wire.Bytes("421 stopping\r\n"));
            await connection.Transport.Output.CompleteAsync();
        }
    }
}
