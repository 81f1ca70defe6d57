using System.Net;
using System.Net.Sockets;
using EarlyPipeProxy.Host.Hosting;
using EarlyPipeProxy.Sessions.Configuration;
using EarlyPipeProxy.Sessions.Tests.TestSupport;
using EarlyPipeProxy.Sessions.Transport;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;

namespace EarlyPipeProxy.Sessions.Tests.Host;

/// <summary>
/// TCP Fast Open on inbound listeners: the option is on by default and set on the listening socket Kestrel gets (read
/// back from the kernel), only on the listeners that have it; a kernel whose net.ipv4.tcp_fastopen takes no SYN data is
/// named once, with the sysctl and the value to set, and never stops a listener.
/// </summary>
public sealed class FastOpenListenersTests
{
    [Theory]
    [InlineData("3\n")]
    [InlineData("2")]
    [InlineData("1027")]
    [InlineData(null)]
    public void The_kernel_takes_SYN_data_with_the_server_bit_or_nothing_is_said(string? sysctl) =>
        Assert.Null(FastOpenSocket.KernelRefusal(sysctl));

    [Theory]
    [InlineData("1\n", "net.ipv4.tcp_fastopen=1 lacks the server bit 0x2", "set net.ipv4.tcp_fastopen=3")]
    [InlineData("0", "net.ipv4.tcp_fastopen=0 lacks the server bit 0x2", "set net.ipv4.tcp_fastopen=2")]
    [InlineData("fast", "net.ipv4.tcp_fastopen reads 'fast'", "not a number")]
    public void Without_the_server_bit_the_refusal_names_the_sysctl_and_the_remedy(string sysctl, string what, string remedy)
    {
        var refusal = FastOpenSocket.KernelRefusal(sysctl);

        Assert.NotNull(refusal);
        Assert.Contains(what, refusal, StringComparison.Ordinal);
        Assert.Contains(remedy, refusal, StringComparison.Ordinal);
    }

    [Fact]
    public void The_kernel_refusal_is_logged_once_naming_the_Fast_Open_listeners_only()
    {
        var logger = new ListLogger();
        InboundListener[] listeners = [Listener("mx", FreePort()), Listener("plain", FreePort(), fastOpen: false), Listener("submission", FreePort())];

        var takes = FastOpenListeners.WarnIfKernelRefuses(listeners, "1", logger);
        var takesWithBit = FastOpenListeners.WarnIfKernelRefuses(listeners, "3", logger);

        Assert.False(takes);
        Assert.True(takesWithBit);
        var line = Assert.Single(logger.Lines);
        Assert.StartsWith("Warning: TCP Fast Open I=mx,submission is configured but net.ipv4.tcp_fastopen=1 lacks the server bit", line, StringComparison.Ordinal);
        Assert.Contains("clients get the ordinary handshake", line, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void The_listening_socket_of_a_Fast_Open_listener_has_its_queue_and_the_others_have_none()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "TCP_FASTOPEN on listening sockets is set on Linux only");
        var logger = new ListLogger();
        var fast = Listener("mx", FreePort(), queue: 17);
        var plain = Listener("plain", FreePort(), fastOpen: false);
        var other = new IPEndPoint(IPAddress.Loopback, FreePort());
        var created = new List<EndPoint>();
        var create = FastOpenListeners.Wrap(
            endPoint =>
            {
                created.Add(endPoint);
                return SocketTransportOptions.CreateDefaultBoundListenSocket(endPoint);
            },
            [fast, plain],
            takesSynData: true,
            logger);

        using var fastSocket = create(fast.ListenEndPoint);
        using var plainSocket = create(plain.ListenEndPoint);
        using var otherSocket = create(other);
        foreach (var socket in new[] { fastSocket, plainSocket, otherSocket })
        {
            socket.Listen();
        }

        // What Kestrel's own creation (or TransparentListeners') made, for every address, with the option added after it.
        Assert.Equal([fast.ListenEndPoint, plain.ListenEndPoint, other], created);
        Assert.Equal(17, FastOpenSocket.QueueLength(fastSocket));
        Assert.Equal(0, FastOpenSocket.QueueLength(plainSocket));
        Assert.Equal(0, FastOpenSocket.QueueLength(otherSocket));
        var line = Assert.Single(logger.Lines);
        Assert.Equal($"Information: TCP Fast Open I=mx on {fast.ListenEndPoint}: SYN data taken from clients with a cookie, queue 17", line);
    }

    [SkippableFact]
    public void Where_the_kernel_takes_no_SYN_data_the_option_is_still_set_and_no_listener_claims_it()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "TCP_FASTOPEN on listening sockets is set on Linux only");
        var logger = new ListLogger();
        var fast = Listener("mx", FreePort());
        var create = FastOpenListeners.Wrap(SocketTransportOptions.CreateDefaultBoundListenSocket, [fast], takesSynData: false, logger);

        using var socket = create(fast.ListenEndPoint);
        socket.Listen();

        // A later `sysctl -w net.ipv4.tcp_fastopen=3` then takes effect without a restart.
        Assert.Equal(InboundListenerOptions.DefaultFastOpenQueueLength, FastOpenSocket.QueueLength(socket));
        Assert.Empty(logger.Lines);
    }

    [Fact]
    public void Fast_Open_is_on_by_default_and_a_queue_below_one_does_not_start()
    {
        var defaults = new InboundListenerOptions();
        var zero = new InboundListenerOptions { Name = "edge", FastOpenQueueLength = 0 };
        var offWithZero = new InboundListenerOptions { Name = "edge", FastOpen = false, FastOpenQueueLength = 0 };

        var thrown = Assert.Throws<FormatException>(() => new InboundListener(zero));

        Assert.True(defaults.FastOpen);
        Assert.Equal(128, defaults.FastOpenQueueLength);
        Assert.Contains("'edge'", thrown.Message, StringComparison.Ordinal);
        Assert.Contains("FastOpenQueueLength must be at least 1", thrown.Message, StringComparison.Ordinal);
        Assert.False(new InboundListener(offWithZero).Options.FastOpen);
    }

    [Fact]
    public void Config_check_names_the_key_of_a_queue_below_one_and_binds_both_keys()
    {
        var path = Path.Combine(Directory.CreateTempSubdirectory("epp-fastopen-").FullName, "earlypipe.json");
        try
        {
            File.WriteAllText(path, """
                { "Inbound": [ { "Name": "mx", "Listen": "127.0.0.1:2025", "FastOpenQueueLength": -5 },
                               { "Name": "plain", "Listen": "127.0.0.1:2026", "FastOpen": false },
                               { "Name": "wide", "Listen": "127.0.0.1:2027", "FastOpenQueueLength": 4096 } ] }
                """);

            var loaded = EarlyPipeProxy.Host.Configuration.ConfigurationLoader.Load(path, []);

            // Only the queue's problem counts here: another test class may have an EARLYPIPE__ variable of its own set meanwhile.
            var problem = Assert.Single(loaded.Problems, p => p.Key.StartsWith("Inbound:", StringComparison.Ordinal) && !p.Message.Contains("unknown key", StringComparison.Ordinal));
            Assert.Equal("Inbound:0:FastOpenQueueLength", problem.Key);
            Assert.Equal("must be at least 1 (it is -5; FastOpen false turns Fast Open off)", problem.Message);
            Assert.Equal(path, problem.Source);
            Assert.Equal(["plain", "wide"], loaded.Inbound.Select(l => l.Name));
            Assert.False(loaded.Inbound[0].Options.FastOpen);
            Assert.Equal(4096, loaded.Inbound[1].Options.FastOpenQueueLength);
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(path)!, recursive: true);
        }
    }

    private static InboundListener Listener(string name, int port, bool fastOpen = true, int queue = InboundListenerOptions.DefaultFastOpenQueueLength) =>
        new(new InboundListenerOptions { Name = name, Listen = $"127.0.0.1:{port}", FastOpen = fastOpen, FastOpenQueueLength = queue });

    private static int FreePort()
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)probe.LocalEndPoint!).Port;
    }
}
