using EarlyPipeProxy.Sessions.Configuration;
using EarlyPipeProxy.Sessions.Outbound;
using EarlyPipeProxy.Sessions.Tests.TestSupport;
using EarlyPipeProxy.Sessions.Upstream;

namespace EarlyPipeProxy.Sessions.Tests.Outbound;

/// <summary>A fixed outbound upstream's health probe: banner, EHLO, and STARTTLS offered where the listener requires TLS.</summary>
public sealed class FixedUpstreamProbeTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);

    private static OutboundListener Listener(OutboundTlsMode tls) => new(new OutboundListenerOptions
    {
        Name = "smarthost",
        Listen = "127.0.0.1:10026",
        Upstream = "127.0.0.1:2525",
        Tls = { Mode = tls },
    });

    [Fact]
    public async Task GreetsAndAnswersEhlo_IsUp_NamingTheEarlyPipeliningOffer()
    {
        await using var connector = new FakeBackendConnector(FakeBackendOptions.EarlyPipelining());

        var verdict = await FixedUpstreamProbe.ProbeAsync(connector, Listener(OutboundTlsMode.Opportunistic), Timeout, CancellationToken.None);

        Assert.Equal(ProbeVerdict.Up("banner 220, EHLO 250, offers PIPECONNECT"), verdict);
        Assert.Equal("EHLO " + FixedUpstreamProbe.DefaultHeloName, (await connector.BackendAsync()).CommandLines[0]);
    }

    [Fact]
    public async Task RequiredTls_WithoutStartTls_IsDown()
    {
        await using var connector = new FakeBackendConnector(FakeBackendOptions.Lockstep());

        var verdict = await FixedUpstreamProbe.ProbeAsync(connector, Listener(OutboundTlsMode.Required), Timeout, CancellationToken.None);

        Assert.Equal(ProbeVerdict.Down("does not offer STARTTLS (Tls:Mode is Required)"), verdict);
    }

    [Fact]
    public async Task RefusingBanner_IsDown_WithIt()
    {
        var options = FakeBackendOptions.Lockstep();
        options.Banner = ["554 5.3.2 busy"];
        await using var connector = new FakeBackendConnector(options);

        var verdict = await FixedUpstreamProbe.ProbeAsync(connector, Listener(OutboundTlsMode.Opportunistic), Timeout, CancellationToken.None);

        Assert.Equal(ProbeVerdict.Down("banner: 554 5.3.2 busy"), verdict);
    }
}
