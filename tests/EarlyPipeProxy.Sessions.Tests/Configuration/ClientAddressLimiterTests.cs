using System.Net;
using EarlyPipeProxy.Sessions.Configuration;
using Microsoft.Extensions.Time.Testing;

namespace EarlyPipeProxy.Sessions.Tests.Configuration;

public sealed class ClientAddressLimiterTests
{
    private static readonly IPAddress Client = IPAddress.Parse("192.0.2.10");
    private static readonly IPAddress Other = IPAddress.Parse("192.0.2.11");

    private readonly FakeTimeProvider _time = new();

    private ClientAddressLimiter Limiter(int open = 0, int perMinute = 0, string[]? exceptions = null) =>
        new(new ListenerLimits { MaxConnectionsPerAddress = open, MaxConnectionsPerAddressPerMinute = perMinute, AddressLimitExceptions = exceptions ?? [] },
            _time);

    [Fact]
    public void An_address_past_its_open_connections_is_refused_and_a_release_lets_the_next_in()
    {
        // Arrange
        var limiter = Limiter(open: 2);

        // Act and assert
        Assert.Equal(ClientAdmission.Admitted, limiter.Admit(Client));
        Assert.Equal(ClientAdmission.Admitted, limiter.Admit(Client));
        Assert.Equal(ClientAdmission.TooManyConnections, limiter.Admit(Client));
        Assert.Equal(ClientAdmission.Admitted, limiter.Admit(Other));

        limiter.Release(Client);
        Assert.Equal(ClientAdmission.Admitted, limiter.Admit(Client));
    }

    [Fact]
    public void An_address_past_its_rate_is_refused_until_its_minute_is_over()
    {
        // Arrange
        var limiter = Limiter(perMinute: 3);

        // Act: three attempts (each closed at once) fill the minute.
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(ClientAdmission.Admitted, limiter.Admit(Client));
            limiter.Release(Client);
        }

        // Assert: the fourth is refused, also a little later; another address is not.
        Assert.Equal(ClientAdmission.RateExceeded, limiter.Admit(Client));
        _time.Advance(TimeSpan.FromSeconds(59));
        Assert.Equal(ClientAdmission.RateExceeded, limiter.Admit(Client));
        Assert.Equal(ClientAdmission.Admitted, limiter.Admit(Other));

        // A new minute counts from zero.
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(ClientAdmission.Admitted, limiter.Admit(Client));
    }

    [Fact]
    public void By_default_loopback_is_exempt_and_an_empty_list_exempts_no_one()
    {
        // Arrange
        var byDefault = new ClientAddressLimiter(new ListenerLimits { MaxConnectionsPerAddress = 1 }, _time);
        var none = Limiter(open: 1, exceptions: []);
        var listed = Limiter(open: 1, exceptions: ["192.0.2.0/24"]);

        // Act and assert
        Assert.Equal(ClientAdmission.Exempt, byDefault.Admit(IPAddress.Loopback));
        Assert.Equal(ClientAdmission.Exempt, byDefault.Admit(IPAddress.Parse("127.0.0.2")));
        Assert.Equal(ClientAdmission.Exempt, byDefault.Admit(IPAddress.IPv6Loopback));
        Assert.Equal(ClientAdmission.Admitted, byDefault.Admit(Client));
        Assert.Equal(ClientAdmission.TooManyConnections, byDefault.Admit(Client));

        Assert.Equal(ClientAdmission.Admitted, none.Admit(IPAddress.Loopback));
        Assert.Equal(ClientAdmission.TooManyConnections, none.Admit(IPAddress.Loopback));

        Assert.Equal(ClientAdmission.Exempt, listed.Admit(Client));
        Assert.Equal(ClientAdmission.Exempt, listed.Admit(Client));
    }

    [Fact]
    public void Ipv6_clients_count_by_their_64_and_an_ipv4_mapped_client_is_its_ipv4_address()
    {
        // Arrange
        var limiter = Limiter(open: 1);

        // Act and assert: two hosts of one /64 are one client; the next /64 is another.
        Assert.Equal(ClientAdmission.Admitted, limiter.Admit(IPAddress.Parse("2001:db8:1:2::1")));
        Assert.Equal(ClientAdmission.TooManyConnections, limiter.Admit(IPAddress.Parse("2001:db8:1:2:ffff::9")));
        Assert.Equal(ClientAdmission.Admitted, limiter.Admit(IPAddress.Parse("2001:db8:1:3::1")));

        Assert.Equal(ClientAdmission.Admitted, limiter.Admit(Client));
        Assert.Equal(ClientAdmission.TooManyConnections, limiter.Admit(Client.MapToIPv6()));
        Assert.Equal(ClientAdmission.Admitted, limiter.Admit(IPAddress.Parse("::ffff:192.0.2.99")));
    }

    [Fact]
    public void Both_limits_off_count_nothing()
    {
        var limiter = Limiter();

        Assert.Equal(ClientAdmission.Exempt, limiter.Admit(Client));
        Assert.Equal(0, limiter.TrackedAddresses);
    }

    [Fact]
    public void An_address_is_forgotten_when_its_last_connection_closes_and_no_rate_needs_remembering()
    {
        // Arrange
        var limiter = Limiter(open: 5);

        // Act
        for (var i = 0; i < 1000; i++)
        {
            var address = new IPAddress(BitConverter.GetBytes(0x0A000000 + i));
            Assert.Equal(ClientAdmission.Admitted, limiter.Admit(address));
            limiter.Release(address);
        }

        // Assert
        Assert.Equal(0, limiter.TrackedAddresses);
    }

    [Fact]
    public void A_flood_of_distinct_addresses_keeps_the_table_bounded_and_a_minute_later_empty()
    {
        // Arrange: a rate to remember, so addresses stay after closing, up to the bound.
        var limiter = Limiter(open: 5, perMinute: 10);

        // Act: four times the bound of distinct addresses, each connecting once and closing.
        for (var i = 0; i < ClientAddressLimiter.MaxRememberedAddresses * 4; i++)
        {
            var address = new IPAddress(BitConverter.GetBytes(0x0A000000 + i));
            limiter.Admit(address);
            limiter.Release(address);
        }

        // Assert
        Assert.InRange(limiter.TrackedAddresses, 1, ClientAddressLimiter.MaxRememberedAddresses + 1);

        // Once the minute is over, the next admission sweeps what is left.
        _time.Advance(ClientAddressLimiter.RateWindow);
        Assert.Equal(ClientAdmission.Admitted, limiter.Admit(Client));
        Assert.Equal(1, limiter.TrackedAddresses);
    }

    [Fact]
    public void Refused_attempts_never_add_an_address()
    {
        // Arrange
        var limiter = Limiter(open: 1, perMinute: 1);
        Assert.Equal(ClientAdmission.Admitted, limiter.Admit(Client));

        // Act
        for (var i = 0; i < 100; i++)
        {
            Assert.NotEqual(ClientAdmission.Admitted, limiter.Admit(Client));
        }

        // Assert
        Assert.Equal(1, limiter.TrackedAddresses);
    }

    [Fact]
    public async Task Admissions_and_releases_from_many_threads_balance_out()
    {
        // Arrange
        var limiter = Limiter(open: 1000);

        // Act
        await Task.WhenAll(Enumerable.Range(0, 8).Select(t => Task.Run(() =>
        {
            var address = IPAddress.Parse($"192.0.2.{t % 3}");
            for (var i = 0; i < 5000; i++)
            {
                if (limiter.Admit(address) == ClientAdmission.Admitted)
                {
                    limiter.Release(address);
                }
            }
        })));

        // Assert
        Assert.Equal(0, limiter.TrackedAddresses);
    }
}
