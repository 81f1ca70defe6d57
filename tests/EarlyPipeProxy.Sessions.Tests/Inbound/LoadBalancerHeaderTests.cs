using System.Buffers;
using System.Net;
using EarlyPipeProxy.Protocol.ClientIdentity;
using EarlyPipeProxy.Sessions.Configuration;
using EarlyPipeProxy.Sessions.Tests.TestSupport;

namespace EarlyPipeProxy.Sessions.Tests.Inbound;

/// <summary>
/// A listener behind load balancers (AcceptProxyHeaderFrom): the PROXY header of a listed balancer is read before
/// anything else and its client is the session's client for everything; a header that is malformed, late, missing,
/// from anyone else or a second one closes the connection without a word.
/// </summary>
public sealed class LoadBalancerHeaderTests
{
    private const string Postfix37Xclient = "XCLIENT NAME ADDR PROTO HELO REVERSE_NAME PORT LOGIN DESTADDR DESTPORT";

    private static readonly IPEndPoint Balancer = new(IPAddress.Parse("10.0.0.3"), 50000);
    private static readonly IPEndPoint Client = new(IPAddress.Parse("203.0.113.7"), 40312);
    private static readonly IPEndPoint Front = new(IPAddress.Parse("192.0.2.25"), 25);

    private static byte[] V2(IPEndPoint client, IPEndPoint destination)
    {
        var writer = new ArrayBufferWriter<byte>();
        ProxyProtocolHeader.WriteV2(writer, client, destination);
        return writer.WrittenSpan.ToArray();
    }

    private static ListenerHarness Behind(Action<InboundListenerOptions>? more = null) =>
        new(FakeBackendOptions.Lockstep(Postfix37Xclient), options =>
        {
            options.AcceptProxyHeaderFrom = ["10.0.0.0/8"];
            options.Timeouts.ProxyHeader = TimeSpan.FromSeconds(2);
            more?.Invoke(options);
        });

    private static async Task EhloAndQuitAsync(TestClient client)
    {
        await client.SendAsync("EHLO client.example\r\n");
        Assert.StartsWith("250", (await client.ReadReplyAsync())[0], StringComparison.Ordinal);
        await client.SendAsync("QUIT\r\n");
        Assert.StartsWith("221", (await client.ReadReplyAsync())[0], StringComparison.Ordinal);
    }

    private static string XclientLine(FakeBackend backend) => backend.CommandLines.Single(l => l.StartsWith("XCLIENT ", StringComparison.Ordinal));

    [Fact]
    public async Task A_listed_balancers_client_is_the_one_the_backend_logs_and_the_session_line_and_trace_name()
    {
        await using var listener = Behind(o => o.Trace.Clients = ["203.0.113.7"]);
        var client = listener.Connect(Balancer);

        // Nothing of ours before the header: no banner, no backend connection.
        Assert.True(await client.IsQuietAsync(TimeSpan.FromMilliseconds(300)), listener.Describe());
        Assert.Equal(0, listener.Connector.Attempts);

        await client.SendAsync(V2(Client, Front));
        Assert.Equal([FakeBackendOptions.FinalBannerLine], await client.ReadReplyAsync());
        await EhloAndQuitAsync(client);
        await listener.WaitForEndAsync(client);

        var backend = await listener.Connector.BackendAsync();
        Assert.Equal("XCLIENT ADDR=203.0.113.7 PORT=40312 NAME=[UNAVAILABLE] REVERSE_NAME=[UNAVAILABLE] DESTADDR=192.0.2.25 DESTPORT=25", XclientLine(backend));
        Assert.Contains(listener.Log.Lines, l => l.Contains("session H=[203.0.113.7]:40312 I=lb ", StringComparison.Ordinal));
        Assert.DoesNotContain(listener.Log.Lines, l => l.Contains("10.0.0.3", StringComparison.Ordinal) && l.Contains("session ", StringComparison.Ordinal));
        Assert.Contains(listener.Log.Lines, l => l.Contains("trace H=[203.0.113.7]:40312 I=lb C>P EHLO client.example", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_backend_taking_proxy_headers_gets_the_carried_client_and_front_end()
    {
        var backendOptions = FakeBackendOptions.Lockstep();
        backendOptions.ExpectProxyHeader = ProxyHeaderKind.V1;
        await using var listener = new ListenerHarness(backendOptions, options =>
        {
            options.AcceptProxyHeaderFrom = ["10.0.0.0/8"];
            options.Backend.ClientIdentity = ClientIdentityMode.ProxyV1;
        });
        var client = listener.Connect(Balancer);

        await client.SendAsync(V2(Client, Front));
        Assert.Equal([FakeBackendOptions.FinalBannerLine], await client.ReadReplyAsync());
        await EhloAndQuitAsync(client);

        var backend = await listener.Connector.BackendAsync();
        Assert.Equal("PROXY TCP4 203.0.113.7 192.0.2.25 40312 25\r\n", System.Text.Encoding.ASCII.GetString(backend.ProxyHeader!));
    }

    [Fact]
    public async Task The_header_precedes_smtp_in_one_segment_and_an_early_flight_behind_it_is_the_clients()
    {
        // Early pipelining is offered to the carried client's network, not to the balancer's.
        await using var listener = Behind(o => o.PipeConnect.AdvertiseHosts = ["203.0.113.0/24"]);
        var client = listener.Connect(Balancer);

        await client.SendAsync([.. V2(Client, Front), .. "EHLO client.example\r\n"u8.ToArray()]);

        Assert.Equal([FakeBackendOptions.FinalBannerLine], await client.ReadReplyAsync());
        Assert.StartsWith("250", (await client.ReadReplyAsync())[0], StringComparison.Ordinal);
        await client.SendAsync("QUIT\r\n");
        await client.ReadReplyAsync();
        await listener.WaitForEndAsync(client);
        Assert.Contains(listener.Log.Lines, l => l.Contains("session H=[203.0.113.7]:40312 I=lb ", StringComparison.Ordinal) && l.Contains(" L* ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task On_a_tls_on_connect_listener_the_header_comes_before_the_handshake()
    {
        await using var listener = Behind(o =>
        {
            TestCertificate.Configure(o);
            o.ImplicitTls = true;
        });
        var client = listener.Connect(Balancer);

        await client.SendAsync(V2(Client, Front));
        await client.StartTlsAsync();

        Assert.Equal([FakeBackendOptions.FinalBannerLine], await client.ReadReplyAsync());
        await EhloAndQuitAsync(client);
        var backend = await listener.Connector.BackendAsync();
        Assert.StartsWith("XCLIENT ADDR=203.0.113.7 PORT=40312 ", XclientLine(backend), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(true, 1)]
    [InlineData(true, 2)]
    [InlineData(false, 1)]
    [InlineData(false, 2)]
    public async Task A_header_from_an_address_that_is_not_listed_closes_without_a_word(bool mayPipelineEarly, int version)
    {
        // Neither a 554 (the header is no early SMTP input) nor the backend's answer to an unknown command: a header
        // where none is taken is a misconfigured balancer or a client claiming another's address.
        await using var listener = Behind(o => o.PipeConnect.AdvertiseHosts = mayPipelineEarly ? ["*"] : [":"]);
        var stranger = new IPEndPoint(IPAddress.Parse("198.51.100.9"), 41000);
        var client = listener.Connect(stranger);

        await client.SendAsync(version == 1 ? System.Text.Encoding.ASCII.GetBytes("PROXY TCP4 203.0.113.7 192.0.2.25 40312 25\r\nEHLO x\r\n") : V2(Client, Front));

        Assert.Equal(string.Empty, await client.ReadToEndAsync());
        await listener.WaitForEndAsync(client);
        var backend = await listener.Connector.BackendAsync();
        Assert.StartsWith("XCLIENT ADDR=198.51.100.9 PORT=41000 ", XclientLine(backend), StringComparison.Ordinal);
        Assert.DoesNotContain(backend.CommandLines, l => l.StartsWith("PROXY", StringComparison.Ordinal) || l == "EHLO x");
        Assert.Contains(listener.Log.Lines, l => l.StartsWith(
            "Warning: PROXY header refused H=[198.51.100.9]:41000 I=lb: not a listed balancer (AcceptProxyHeaderFrom), or a second header behind one; connection closed",
            StringComparison.Ordinal));
        Assert.Contains(listener.Log.Lines, l => l.Contains("session H=[198.51.100.9]:41000 ", StringComparison.Ordinal)
            && l.Contains("end=\"PROXY header from an address not in AcceptProxyHeaderFrom\"", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_second_header_behind_a_balancers_closes_without_a_word()
    {
        await using var listener = Behind();
        var client = listener.Connect(Balancer);

        await client.SendAsync([.. V2(Client, Front), .. V2(new IPEndPoint(IPAddress.Parse("192.0.2.99"), 1), Front)]);

        Assert.Equal(string.Empty, await client.ReadToEndAsync());
        await listener.WaitForEndAsync(client);
        Assert.Contains(listener.Log.Lines, l => l.StartsWith("Warning: PROXY header refused H=[203.0.113.7]:40312 I=lb: not a listed balancer", StringComparison.Ordinal));
        var backend = await listener.Connector.BackendAsync();
        Assert.StartsWith("XCLIENT ADDR=203.0.113.7 PORT=40312 ", XclientLine(backend), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_header_to_a_listener_that_takes_none_closes_without_a_word()
    {
        await using var listener = new ListenerHarness(FakeBackendOptions.Lockstep(Postfix37Xclient), _ => { });
        var client = listener.Connect(new IPEndPoint(IPAddress.Parse("198.51.100.9"), 41000));

        await client.SendAsync("PROXY TCP4 203.0.113.7 192.0.2.25 40312 25\r\n");

        Assert.Equal(string.Empty, await client.ReadToEndAsync());
        await listener.WaitForEndAsync(client);
        Assert.Contains(listener.Log.Lines, l => l.Contains("PROXY header refused H=[198.51.100.9]:41000 I=", StringComparison.Ordinal)
            && l.Contains(": this listener takes PROXY headers from no one (AcceptProxyHeaderFrom is empty); connection closed", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_client_that_is_not_listed_and_starts_with_a_proxy_like_word_is_just_an_smtp_client()
    {
        await using var listener = Behind();
        var client = listener.Connect(new IPEndPoint(IPAddress.Parse("198.51.100.9"), 41000));

        await client.SendAsync("PROXYX\r\n");
        Assert.Equal([FakeBackendOptions.FinalBannerLine], await client.ReadReplyAsync());

        Assert.Matches("^5[0-9][0-9] ", (await client.ReadReplyAsync())[0]);
        var backend = await listener.Connector.BackendAsync();
        Assert.Contains("PROXYX", backend.CommandLines);
    }

    [Theory]
    [InlineData("PROXY TCP4 203.0.113 192.0.2.25 40312 25\r\n", "malformed: v1 TCP4 address is not a dotted quad")]
    [InlineData("PROXY TCP4 203.0.113.7 192.0.2.25 40312 25\n", "malformed: v1 header not ended by CRLF")]
    [InlineData("\r\n\r\n\0\r\nQUIT\n\x21\x31\x00\x00", "malformed: v2 PROXY from AF_UNIX: no client address to carry")]
    [InlineData("EHLO client.example\r\n", "no PROXY header (RequireProxyHeader), input=\"EHLO client.example\\r\\n\"")]
    public async Task A_malformed_or_missing_header_from_a_balancer_closes_without_a_word(string first, string logged)
    {
        await using var listener = Behind();
        var client = listener.Connect(Balancer);

        await client.SendAsync(System.Text.Encoding.Latin1.GetBytes(first));

        Assert.Equal(string.Empty, await client.ReadToEndAsync());
        await listener.WaitForEndAsync(client);
        Assert.Equal(0, listener.Connector.Attempts);
        Assert.Contains(listener.Log.Lines, l => l.StartsWith("Warning: PROXY header refused H=[10.0.0.3]:50000 I=lb: " + logged + "; connection closed", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_header_not_complete_in_time_closes_without_a_word()
    {
        await using var listener = Behind(o => o.Timeouts.ProxyHeader = TimeSpan.FromMilliseconds(400));
        var client = listener.Connect(Balancer);
        var started = System.Diagnostics.Stopwatch.StartNew();

        await client.SendAsync("PROXY TCP4 203.0.113.7 ");

        Assert.Equal(string.Empty, await client.ReadToEndAsync());
        Assert.InRange(started.Elapsed, TimeSpan.FromMilliseconds(300), Wire.Patience);
        Assert.Equal(0, listener.Connector.Attempts);
        Assert.Contains(listener.Log.Lines, l => l.Contains("PROXY header refused H=[10.0.0.3]:50000 I=lb: no complete header within 0.4s (Timeouts:ProxyHeader)", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_silent_balancer_is_closed_at_the_header_timeout_when_the_header_is_required()
    {
        await using var listener = Behind(o => o.Timeouts.ProxyHeader = TimeSpan.FromMilliseconds(400));
        var client = listener.Connect(Balancer);

        Assert.Equal(string.Empty, await client.ReadToEndAsync());
        Assert.Equal(0, listener.Connector.Attempts);
        Assert.Contains(listener.Log.Lines, l => l.Contains("no complete header within 0.4s", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("v2 LOCAL")]
    [InlineData("v1 UNKNOWN")]
    public async Task A_header_without_a_client_is_the_balancers_own_connection_served_as_its_address(string kind)
    {
        await using var listener = Behind();
        var client = listener.Connect(Balancer);

        await client.SendAsync(kind == "v1 UNKNOWN" ? "PROXY UNKNOWN\r\n"u8.ToArray() : [.. "\r\n\r\n\0\r\nQUIT\n"u8, 0x20, 0x00, 0x00, 0x00]);

        Assert.Equal([FakeBackendOptions.FinalBannerLine], await client.ReadReplyAsync());
        await EhloAndQuitAsync(client);
        var backend = await listener.Connector.BackendAsync();
        Assert.StartsWith("XCLIENT ADDR=10.0.0.3 PORT=50000 ", XclientLine(backend), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Per_address_limits_count_the_carried_client_never_the_balancer()
    {
        await using var listener = Behind(o =>
        {
            o.Limits.MaxConnectionsPerAddress = 1;
            o.Limits.AddressLimitExceptions = [];
        });
        var second = new IPEndPoint(IPAddress.Parse("203.0.113.8"), 40313);

        // Two clients through one balancer address: each has its own count.
        var first = listener.Connect(Balancer);
        await first.SendAsync(V2(Client, Front));
        Assert.Equal([FakeBackendOptions.FinalBannerLine], await first.ReadReplyAsync());
        var other = listener.Connect(new IPEndPoint(Balancer.Address, 50001));
        await other.SendAsync(V2(second, Front));
        Assert.Equal([FakeBackendOptions.FinalBannerLine], await other.ReadReplyAsync());

        // The first client again, while its connection is open: over its limit.
        var again = listener.Connect(new IPEndPoint(Balancer.Address, 50002));
        await again.SendAsync(V2(new IPEndPoint(Client.Address, 40399), Front));
        Assert.StartsWith("421 4.7.0", (await again.ReadReplyAsync())[0], StringComparison.Ordinal);

        Assert.Contains(listener.Log.Lines, l => l.Contains("connection limit per address reached: refused H=[203.0.113.7] I=lb", StringComparison.Ordinal));
        Assert.DoesNotContain(listener.Log.Lines, l => l.Contains("refused H=[10.0.0.3]", StringComparison.Ordinal));
        await EhloAndQuitAsync(first);
        await EhloAndQuitAsync(other);
    }

    [Fact]
    public async Task Optional_header_a_silent_listed_address_gets_the_banner_after_a_short_wait()
    {
        await using var listener = Behind(o => o.RequireProxyHeader = false);
        var client = listener.Connect(Balancer);
        var started = System.Diagnostics.Stopwatch.StartNew();

        Assert.Equal([FakeBackendOptions.FinalBannerLine], await client.ReadReplyAsync());

        Assert.InRange(started.Elapsed, TimeSpan.FromMilliseconds(900), Wire.Patience);
        await EhloAndQuitAsync(client);
        var backend = await listener.Connector.BackendAsync();
        Assert.StartsWith("XCLIENT ADDR=10.0.0.3 PORT=50000 ", XclientLine(backend), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Optional_header_a_listed_address_that_talks_smtp_first_is_a_direct_client_with_its_flight_kept()
    {
        await using var listener = Behind(o => o.RequireProxyHeader = false);
        var client = listener.Connect(Balancer);

        await client.SendAsync("EHLO client.example\r\n");

        Assert.Equal([FakeBackendOptions.FinalBannerLine], await client.ReadReplyAsync());
        Assert.StartsWith("250", (await client.ReadReplyAsync())[0], StringComparison.Ordinal);
        var backend = await listener.Connector.BackendAsync();
        Assert.StartsWith("XCLIENT ADDR=10.0.0.3 ", XclientLine(backend), StringComparison.Ordinal);
        Assert.Contains("EHLO client.example", backend.CommandLines);
    }

    [Fact]
    public async Task Optional_header_a_header_is_still_read()
    {
        await using var listener = Behind(o => o.RequireProxyHeader = false);
        var client = listener.Connect(Balancer);

        await client.SendAsync(V2(Client, Front));

        Assert.Equal([FakeBackendOptions.FinalBannerLine], await client.ReadReplyAsync());
        var backend = await listener.Connector.BackendAsync();
        Assert.StartsWith("XCLIENT ADDR=203.0.113.7 PORT=40312 ", XclientLine(backend), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_reload_changes_which_addresses_are_balancers_for_the_next_connection()
    {
        await using var listener = Behind(o => o.PipeConnect.AdvertiseHosts = [":"]);
        var options = listener.Listener.Options;
        var reloaded = new InboundListenerOptions
        {
            Name = options.Name,
            Listen = options.Listen,
            HostName = options.HostName,
            Backend = options.Backend,
            Timeouts = options.Timeouts,
            PipeConnect = options.PipeConnect,
            AcceptProxyHeaderFrom = ["192.0.2.0/24"],
        };
        listener.Listener.Apply(new InboundListenerSettings(reloaded, listener.Listener.ClientNames, null));

        // 10.0.0.3 is no balancer any more: its header is refused, not read.
        var client = listener.Connect(Balancer);
        await client.SendAsync(V2(Client, Front));

        Assert.Equal(string.Empty, await client.ReadToEndAsync());
        Assert.Contains(listener.Log.Lines, l => l.StartsWith("Warning: PROXY header refused H=[10.0.0.3]:50000 I=lb: not a listed balancer", StringComparison.Ordinal));
        var backend = await listener.Connector.BackendAsync();
        Assert.StartsWith("XCLIENT ADDR=10.0.0.3 ", XclientLine(backend), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("*")]
    [InlineData("10.0.0.0/33")]
    [InlineData("balancer.example")]
    public void A_list_that_would_trust_anyone_or_does_not_parse_is_refused(string entry)
    {
        var options = new InboundListenerOptions { AcceptProxyHeaderFrom = ["10.0.0.1", entry] };

        var problem = Assert.Throws<FormatException>(() => new InboundListener(options));

        Assert.Contains("AcceptProxyHeaderFrom", problem.Message, StringComparison.Ordinal);
    }
}
