using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using EarlyPipeProxy.Host.Hosting;
using EarlyPipeProxy.Sessions.Configuration;
using EarlyPipeProxy.Sessions.Tests.TestSupport;
using EarlyPipeProxy.Sessions.Transport;
using Microsoft.AspNetCore.Connections;

namespace EarlyPipeProxy.Sessions.Tests.Transport;

/// <summary>
/// The SMTP listeners' listening sockets: the transport claims only the listeners' addresses, binds them as Kestrel does
/// (dual-mode for [::], backlog 512) with the listeners' own socket options applied before listen() (TCP_FASTOPEN,
/// read back from the kernel), says "address already in use" as Kestrel's transport does, and stops accepting when unbound.
/// </summary>
public sealed class SmtpListenerTransportTests
{
    [Fact]
    public void Only_the_listeners_addresses_are_claimed()
    {
        var mx = new IPEndPoint(IPAddress.Loopback, 2025);
        var transport = new SmtpListenerTransport(new SmtpListenerTransportOptions(), new Dictionary<IPEndPoint, object> { [mx] = "mx" });

        Assert.True(transport.CanBind(new IPEndPoint(IPAddress.Loopback, 2025)));
        Assert.False(transport.CanBind(new IPEndPoint(IPAddress.Loopback, 9325)));
        Assert.False(transport.CanBind(new IPEndPoint(IPAddress.Any, 2025)));
        Assert.False(transport.CanBind(new UnixDomainSocketEndPoint("/tmp/epp-control.sock")));
    }

    [SkippableFact]
    public async Task A_Fast_Open_listeners_socket_gets_its_queue_before_listen_and_the_backlog_is_Kestrels()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "TCP_FASTOPEN on listening sockets is set on Linux only");
        var port = FreePort();
        var listener = new InboundListener(new InboundListenerOptions { Name = "mx", Listen = $"127.0.0.1:{port}", FastOpenQueueLength = 23 });
        var options = new SmtpListenerTransportOptions();
        options.CreateBoundListenSocket = FastOpenListeners.Wrap(options.CreateBoundListenSocket, [listener], takesSynData: true, new ListLogger());
        var transport = new SmtpListenerTransport(options, new Dictionary<IPEndPoint, object> { [listener.ListenEndPoint] = "mx" });

        await using var bound = Assert.IsType<SmtpSocketListener>(await transport.BindAsync(listener.ListenEndPoint));

        Assert.Equal(23, FastOpenSocket.QueueLength(bound.Socket));
        Assert.Equal(listener.ListenEndPoint, bound.EndPoint);
        // ss shows a listening socket's backlog as its Send-Q.
        Skip.If(Which("ss") is null, "ss (iproute2) is not installed");
        var line = Run("ss", $"-ltnH sport = :{port}").Trim();
        var columns = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("512", columns[2]);
    }

    [SkippableFact]
    public async Task The_any_IPv6_address_listens_dual_mode()
    {
        Skip.IfNot(Socket.OSSupportsIPv6, "no IPv6 here");
        var any = new IPEndPoint(IPAddress.IPv6Any, FreePort());
        var transport = new SmtpListenerTransport(new SmtpListenerTransportOptions(), new Dictionary<IPEndPoint, object> { [any] = "mx" });

        await using var bound = Assert.IsType<SmtpSocketListener>(await transport.BindAsync(any));

        Assert.True(bound.Socket.DualMode);
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(new IPEndPoint(IPAddress.Loopback, any.Port)).WaitAsync(Wire.Patience);
        await using var accepted = (await bound.AcceptAsync().AsTask().WaitAsync(Wire.Patience))!;
        Assert.Equal(IPAddress.Loopback.MapToIPv6(), ((IPEndPoint)accepted.RemoteEndPoint!).Address);
    }

    [Fact]
    public async Task An_address_in_use_is_said_as_Kestrels_transport_says_it()
    {
        using var holder = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        holder.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        holder.Listen();
        var taken = (IPEndPoint)holder.LocalEndPoint!;
        var transport = new SmtpListenerTransport(new SmtpListenerTransportOptions(), new Dictionary<IPEndPoint, object> { [taken] = "mx" });

        // Kestrel turns this into "Failed to bind to address http://127.0.0.1:port: address already in use." (StartFailure).
        await Assert.ThrowsAsync<AddressInUseException>(async () => await transport.BindAsync(taken));
    }

    [Fact]
    public async Task Unbinding_ends_a_pending_accept_with_no_connection()
    {
        var address = new IPEndPoint(IPAddress.Loopback, 0);
        var transport = new SmtpListenerTransport(new SmtpListenerTransportOptions(), new Dictionary<IPEndPoint, object> { [address] = "mx" });
        await using var bound = await transport.BindAsync(address);
        var accepting = bound.AcceptAsync().AsTask();

        await bound.UnbindAsync();

        Assert.Null(await accepting.WaitAsync(Wire.Patience));
    }

    private static int FreePort()
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)probe.LocalEndPoint!).Port;
    }

    private static string? Which(string tool) =>
        Environment.GetEnvironmentVariable("PATH")?.Split(':').Select(d => Path.Combine(d, tool)).FirstOrDefault(File.Exists);

    private static string Run(string tool, string arguments)
    {
        using var process = Process.Start(new ProcessStartInfo(tool, arguments) { RedirectStandardOutput = true })!;
        var output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return output;
    }
}
