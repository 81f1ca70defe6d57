using System.Net;
using EarlyPipeProxy.Sessions.Configuration;
using EarlyPipeProxy.Sessions.Inbound;
using EarlyPipeProxy.Sessions.Tests.TestSupport;

namespace EarlyPipeProxy.Sessions.Tests.Configuration;

/// <summary>
/// A reload swaps a listener's settings whole while its live state (connection count, per-address table) stays, with
/// the new limits; settings a session took before stay as they were.
/// </summary>
public sealed class ListenerReloadTests
{
    private static readonly IPAddress Client = IPAddress.Parse("192.0.2.20");

    [Fact]
    public void Apply_swaps_the_settings_and_keeps_the_live_counts_under_the_new_limits()
    {
        // Arrange
        var listener = new InboundListener(new InboundListenerOptions
        {
            Name = "edge",
            Limits = new ListenerLimits { MaxConnections = 2, MaxConnectionsPerAddress = 2, AddressLimitExceptions = [] },
        });
        var taken = listener.Settings;
        Assert.True(listener.Connections.TryTake());
        Assert.True(listener.Connections.TryTake());
        Assert.Equal(ClientAdmission.Admitted, listener.AddressLimits.Admit(Client));
        Assert.Equal(ClientAdmission.Admitted, listener.AddressLimits.Admit(Client));
        var slots = listener.Connections;
        var limiter = listener.AddressLimits;
        var next = new InboundListenerOptions
        {
            Name = "edge",
            PipeConnect = new PipeConnectOptions { AdvertiseHosts = [":"] },
            Limits = new ListenerLimits { MaxConnections = 3, MaxLineLength = 1000, MaxConnectionsPerAddress = 3, AddressLimitExceptions = [] },
        };

        // Act
        listener.Apply(new InboundListenerSettings(next, ClientNameResolver.Shared, certificates: null));

        // Assert: the same live objects, their counts kept, the new caps in force.
        Assert.Same(slots, listener.Connections);
        Assert.Same(limiter, listener.AddressLimits);
        Assert.Equal(2, listener.Connections.Taken);
        Assert.True(listener.Connections.TryTake());
        Assert.False(listener.Connections.TryTake());
        Assert.Equal(ClientAdmission.Admitted, listener.AddressLimits.Admit(Client));
        Assert.Equal(ClientAdmission.TooManyConnections, listener.AddressLimits.Admit(Client));
        Assert.Equal(1000, listener.Options.Limits.MaxLineLength);
        Assert.False(listener.AdvertiseHosts.Contains(IPAddress.Loopback));

        // The settings taken before (a session in flight) are unchanged.
        Assert.Equal(512, taken.Options.Limits.MaxLineLength);
        Assert.True(taken.AdvertiseHosts.Contains(IPAddress.Loopback));
    }

    [Fact]
    public void A_lower_cap_refuses_new_connections_until_the_open_ones_fall_below_it()
    {
        var slots = new ConnectionSlots(3);
        Assert.True(slots.TryTake());
        Assert.True(slots.TryTake());

        slots.Resize(1);

        Assert.False(slots.TryTake());
        slots.Release();
        Assert.False(slots.TryTake());
        slots.Release();
        Assert.True(slots.TryTake());
    }

    [Fact]
    public void An_address_made_an_exception_by_a_reload_is_no_longer_limited_and_its_earlier_connections_still_release()
    {
        var limiter = new ClientAddressLimiter(new ListenerLimits { MaxConnectionsPerAddress = 1, MaxConnectionsPerAddressPerMinute = 0, AddressLimitExceptions = [] });
        Assert.Equal(ClientAdmission.Admitted, limiter.Admit(Client));
        Assert.Equal(ClientAdmission.TooManyConnections, limiter.Admit(Client));

        limiter.Update(new ListenerLimits { MaxConnectionsPerAddress = 1, MaxConnectionsPerAddressPerMinute = 0, AddressLimitExceptions = ["192.0.2.0/24"] });

        Assert.Equal(ClientAdmission.Exempt, limiter.Admit(Client));
        limiter.Release(Client);
        Assert.Equal(0, limiter.TrackedAddresses);
    }

    [Fact]
    public void An_unreadable_certificate_does_not_throw_but_is_the_listener_s_problem()
    {
        var options = new InboundListenerOptions { Name = "tls" };
        options.Tls.CertificatePath = Path.Combine(Path.GetTempPath(), "earlypipe-missing-" + Guid.NewGuid().ToString("N") + ".pem");

        var listener = new InboundListener(options);

        Assert.Null(listener.Certificates);
        Assert.NotNull(listener.Problem);
        Assert.Contains(options.Tls.CertificatePath, listener.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void A_readable_certificate_is_no_problem()
    {
        var options = new InboundListenerOptions { Name = "tls" };
        TestCertificate.Configure(options);

        var listener = new InboundListener(options);

        Assert.Null(listener.Problem);
        Assert.Equal("CN=" + TestCertificate.HostName, listener.Certificates!.Subject);
    }
}
