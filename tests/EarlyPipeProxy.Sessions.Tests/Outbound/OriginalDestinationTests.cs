using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using EarlyPipeProxy.Sessions.Outbound;

namespace EarlyPipeProxy.Sessions.Tests.Outbound;

/// <summary>
/// The sockaddr parsing behind SO_ORIGINAL_DST, with buffers laid out the way Linux writes them; the real
/// REDIRECT is exercised by the end-to-end OriginalDestinationTests (root, iptables, a network namespace).
/// </summary>
public sealed class OriginalDestinationTests
{
    [Fact]
    public void Sockaddr_in_gives_the_IPv4_address_and_the_port_in_network_byte_order()
    {
        // 0x1234 = 4660: the two port bytes differ, so reading them in host order would give 0x3412.
        var sockaddr = SockaddrIn(2, 0x1234, [127, 0, 0, 5]);

        Assert.True(OriginalDestination.TryParse(sockaddr, out var destination));
        Assert.Equal(new IPEndPoint(IPAddress.Parse("127.0.0.5"), 4660), destination);
    }

    [Fact]
    public void Sockaddr_in_as_the_kernel_wrote_it_for_127_0_0_1_port_2999()
    {
        // Captured on x86-64 (sa_family little-endian) from getsockopt(SOL_IP, SO_ORIGINAL_DST) on a tracked
        // connection straight to 127.0.0.1:2999; the last 8 bytes are sin_zero.
        if (!BitConverter.IsLittleEndian)
        {
            return;
        }

        var captured = Convert.FromHexString("02000BB77F0000010000000000000000");

        Assert.True(OriginalDestination.TryParse(captured, out var destination));
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, 2999), destination);
    }

    [Fact]
    public void Sockaddr_in6_gives_the_IPv6_address_port_and_scope_id()
    {
        var address = IPAddress.Parse("fe80::1:2:3:4");
        var sockaddr = SockaddrIn6(10, 2525, address.GetAddressBytes(), flowInfo: 0xABCDEF, scopeId: 7);

        Assert.True(OriginalDestination.TryParse(sockaddr, out var destination));
        Assert.Equal(2525, destination.Port);
        Assert.Equal(address.GetAddressBytes(), destination.Address.GetAddressBytes());
        Assert.Equal(7, destination.Address.ScopeId);
    }

    [Fact]
    public void Sockaddr_in6_of_loopback_port_25()
    {
        var sockaddr = SockaddrIn6(10, 25, IPAddress.IPv6Loopback.GetAddressBytes(), flowInfo: 0, scopeId: 0);

        Assert.True(OriginalDestination.TryParse(sockaddr, out var destination));
        Assert.Equal(new IPEndPoint(IPAddress.IPv6Loopback, 25), destination);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    [InlineData(7)]
    public void Too_short_for_a_sockaddr_in_is_rejected(int length)
    {
        var sockaddr = SockaddrIn(2, 25, [192, 0, 2, 1]).AsSpan(0, length).ToArray();

        Assert.False(OriginalDestination.TryParse(sockaddr, out var destination));
        Assert.Null(destination);
    }

    [Fact]
    public void Sockaddr_in6_without_its_scope_id_is_rejected()
    {
        var sockaddr = SockaddrIn6(10, 25, IPAddress.IPv6Loopback.GetAddressBytes(), 0, 0).AsSpan(0, 24).ToArray();

        Assert.False(OriginalDestination.TryParse(sockaddr, out _));
    }

    [Theory]
    [InlineData(0)]  // AF_UNSPEC: a buffer nobody wrote
    [InlineData(1)]  // AF_UNIX
    [InlineData(23)] // AddressFamily.InterNetworkV6 is the Windows value; Linux writes 10
    public void Other_address_families_are_rejected(int family)
    {
        var sockaddr = SockaddrIn6((ushort)family, 25, IPAddress.IPv6Loopback.GetAddressBytes(), 0, 0);

        Assert.False(OriginalDestination.TryParse(sockaddr, out _));
    }

    [Fact]
    public void Port_zero_is_rejected()
    {
        Assert.False(OriginalDestination.TryParse(SockaddrIn(2, 0, [192, 0, 2, 1]), out _));
    }

    [Theory]
    [InlineData("127.0.0.5", 25, "127.0.0.1", 2999, true)]
    [InlineData("127.0.0.1", 25, "127.0.0.1", 2999, true)]
    [InlineData("192.0.2.7", 2999, "127.0.0.1", 2999, true)]
    [InlineData("127.0.0.1", 2999, "127.0.0.1", 2999, false)]
    [InlineData("127.0.0.1", 2999, "::ffff:127.0.0.1", 2999, false)] // dual-mode listener, IPv4 client
    [InlineData("127.0.0.5", 25, "::ffff:127.0.0.1", 2999, true)]
    [InlineData("::1", 2999, "::1", 2999, false)]
    [InlineData("::1", 25, "::1", 2999, true)]
    public void Redirected_unless_the_original_destination_is_the_local_endpoint(
        string original, int originalPort, string local, int localPort, bool redirected)
    {
        Assert.Equal(
            redirected,
            OriginalDestination.IsRedirected(
                new IPEndPoint(IPAddress.Parse(original), originalPort),
                new IPEndPoint(IPAddress.Parse(local), localPort)));
    }

    [Fact]
    public async Task A_direct_loopback_connection_is_not_redirected()
    {
        // Whatever the kernel says here (ENOENT without conntrack, the local endpoint with it, nothing off Linux),
        // the answer is "no original destination", without an exception.
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(listener.LocalEndPoint!);
        using var accepted = await listener.AcceptAsync();

        Assert.False(OriginalDestination.TryGet(accepted, out var destination));
        Assert.Null(destination);
    }

    [Fact]
    public void A_closed_or_unconnected_socket_gives_false_not_an_exception()
    {
        using var unconnected = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        Assert.False(OriginalDestination.TryGet(unconnected, out _));

        var closed = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        closed.Dispose();
        Assert.False(OriginalDestination.TryGet(closed, out _));
    }

    private static byte[] SockaddrIn(ushort family, ushort port, byte[] address)
    {
        var buffer = new byte[16];
        MemoryMarshal.Write(buffer, in family);
        BinaryPrimitives.WriteUInt16BigEndian(buffer.AsSpan(2), port);
        address.CopyTo(buffer, 4);
        return buffer;
    }

    private static byte[] SockaddrIn6(ushort family, ushort port, byte[] address, uint flowInfo, uint scopeId)
    {
        var buffer = new byte[28];
        MemoryMarshal.Write(buffer, in family);
        BinaryPrimitives.WriteUInt16BigEndian(buffer.AsSpan(2), port);
        BinaryPrimitives.WriteUInt32BigEndian(buffer.AsSpan(4), flowInfo);
        address.CopyTo(buffer, 8);
        MemoryMarshal.Write(buffer.AsSpan(24), in scopeId);
        return buffer;
    }
}
