using EarlyPipeProxy.Sessions.Configuration;

namespace EarlyPipeProxy.Sessions.Tests.Configuration;

/// <summary>The exhaustion knobs are checked at start-up, and the message names the listener and the key.</summary>
public sealed class LimitsValidationTests
{
    public static TheoryData<string, Action<InboundListenerOptions>> Unworkable() => new()
    {
        { "Limits:MaxConnectionsPerAddress", o => o.Limits.MaxConnectionsPerAddress = -1 },
        { "Limits:MaxConnectionsPerAddressPerMinute", o => o.Limits.MaxConnectionsPerAddressPerMinute = -1 },
        { "Limits:AddressLimitExceptions", o => o.Limits.AddressLimitExceptions = ["not-an-address"] },
        { "Timeouts:MinDataRate", o => o.Timeouts.MinDataRate = 0 },
        { "Timeouts:Command", o => o.Timeouts.Command = TimeSpan.Zero },
        { "Timeouts:Data", o => o.Timeouts.Data = TimeSpan.FromSeconds(-1) },
        { "Timeouts:Session", o => o.Timeouts.Session = TimeSpan.FromMinutes(1) },
    };

    [Theory]
    [MemberData(nameof(Unworkable))]
    public void An_inbound_listener_with_an_unworkable_value_does_not_start(string key, Action<InboundListenerOptions> configure)
    {
        // Arrange
        var options = new InboundListenerOptions { Name = "edge" };
        configure(options);

        // Act
        var thrown = Assert.Throws<FormatException>(() => new InboundListener(options));

        // Assert
        Assert.Contains("'edge'", thrown.Message, StringComparison.Ordinal);
        Assert.Contains(key, thrown.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_outbound_listener_checks_the_same_knobs()
    {
        var options = new OutboundListenerOptions { Name = "out", Upstream = "127.0.0.1:25" };
        options.Timeouts.MinDataRate = 0;

        var thrown = Assert.Throws<FormatException>(() => new OutboundListener(options));

        Assert.Contains("Timeouts:MinDataRate", thrown.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_defaults_start_and_zero_turns_the_address_limits_off()
    {
        var options = new InboundListenerOptions();
        options.Limits.MaxConnectionsPerAddress = 0;
        options.Limits.MaxConnectionsPerAddressPerMinute = 0;

        var listener = new InboundListener(options);

        Assert.Equal(ClientAdmission.Exempt, listener.AddressLimits.Admit(System.Net.IPAddress.Parse("192.0.2.1")));
        Assert.Equal(50, new ListenerLimits().MaxConnectionsPerAddress);
        Assert.Equal(300, new ListenerLimits().MaxConnectionsPerAddressPerMinute);
        Assert.Equal(500, new SessionTimeouts().MinDataRate);
        Assert.Equal(TimeSpan.FromHours(1), new SessionTimeouts().Session);
    }
}
