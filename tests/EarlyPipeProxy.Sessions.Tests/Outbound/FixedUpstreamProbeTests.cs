using EarlyPipeProxy.Sessions.Configuration;
using EarlyPipeProxy.Sessions.Outbound;
using EarlyPipeProxy.Sessions.Tests.TestSupport;
using EarlyPipeProxy.Sessions.Upstream;

namespace EarlyPipeProxy.Sessions.Tests.Outbound;

/// <summary>
/// A fixed outbound upstream's health probe: banner, EHLO, and STARTTLS offered where the listener requires TLS; the
/// handshake first where it is TLS on connect.
/// </summary>
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
    public async Task TlsOnConnect_HandshakesFirst_IsUp_NamingTheTls()
    {
        var remote = FakeBackendOptions.EarlyPipelining();
        remote.TlsOnConnectCertificate = TestCertificate.Instance.Certificate;
        await using var connector = new FakeBackendConnector(remote);

        var verdict = await FixedUpstreamProbe.ProbeAsync(connector, Listener(OutboundTlsMode.OnConnect), Timeout, CancellationToken.None);

        Assert.True(verdict.IsUp, verdict.Detail);
        Assert.Matches(@"^TLS on connect TLS1\.[23]:\S+, banner 220, EHLO 250, offers PIPECONNECT$", verdict.Detail);
        var backend = await connector.BackendAsync();
        Assert.NotNull(backend.Tls);
        Assert.DoesNotContain("EHLO", backend.RawReceivedText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TlsOnConnect_UntrustedCertificate_IsDown()
    {
        var remote = FakeBackendOptions.EarlyPipelining();
        remote.TlsOnConnectCertificate = TestCertificate.Instance.Certificate;
        await using var connector = new FakeBackendConnector(remote);
        var listener = new OutboundListener(new OutboundListenerOptions
        {
            Name = "smarthost",
            Listen = "127.0.0.1:10026",
            Upstream = "127.0.0.1:2525",
            Tls = { Mode = OutboundTlsMode.OnConnect, VerifyCertificate = true, ServerName = TestCertificate.HostName },
        });

        var verdict = await FixedUpstreamProbe.ProbeAsync(connector, listener, Timeout, CancellationToken.None);

        Assert.False(verdict.IsUp);
        Assert.StartsWith("TLS handshake failed", verdict.Detail, StringComparison.Ordinal);
        Assert.DoesNotContain("EHLO", (await connector.BackendAsync()).RawReceivedText, StringComparison.Ordinal);
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
