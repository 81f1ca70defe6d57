using System.Text;
using EarlyPipeProxy.Sessions.Configuration;
using EarlyPipeProxy.Sessions.Inbound;
using EarlyPipeProxy.Sessions.Tests.TestSupport;
using EarlyPipeProxy.Sessions.Upstream;

namespace EarlyPipeProxy.Sessions.Tests.Inbound;

/// <summary>
/// The backend's health probe does what a session does before its client's first command, so that a backend that
/// would answer every session with 421 is found down, with the reason. (Against a real Postfix: HealthProbeTests.)
/// </summary>
public sealed class BackendProbeTests
{
    private const string Refusal = "550 5.7.0 Error: insufficient authorization";
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);

    private static InboundListener Listener(ClientIdentityMode identity, BackendTlsMode tls = BackendTlsMode.None) => new(new InboundListenerOptions
    {
        Name = "smtp",
        Listen = "127.0.0.1:2025",
        HostName = "proxy.test",
        Backend = { Address = "127.0.0.1:2525", ClientIdentity = identity, LookupClientName = false, Tls = tls, VerifyCertificate = false },
    });

    private static async Task<(ProbeVerdict Verdict, FakeBackend Backend)> ProbeAsync(FakeBackendOptions backend, InboundListener listener, TimeSpan? timeout = null)
    {
        await using var connector = new FakeBackendConnector(backend);
        var verdict = await BackendProbe.ProbeAsync(connector, listener, timeout ?? Timeout, CancellationToken.None);
        return (verdict, await connector.BackendAsync());
    }

    [Fact]
    public async Task Xclient_AcceptedWith220_IsUp_AfterEhloXclientQuit()
    {
        var (verdict, backend) = await ProbeAsync(FakeBackendOptions.Lockstep("XCLIENT NAME ADDR PORT DESTADDR DESTPORT"), Listener(ClientIdentityMode.Xclient));

        Assert.Equal(ProbeVerdict.Up("banner 220, EHLO 250, XCLIENT 220"), verdict);
        // QUIT was answered before the probe returned.
        Assert.Equal(3, backend.CommandLines.Count);
        Assert.Equal("EHLO proxy.test", backend.CommandLines[0]);
        // The proxy as the client: its own (here: loopback) address, no name, and where it would have been connected to.
        Assert.StartsWith("XCLIENT ADDR=127.0.0.1 PORT=", backend.CommandLines[1], StringComparison.Ordinal);
        Assert.EndsWith(" NAME=[UNAVAILABLE] DESTADDR=127.0.0.1 DESTPORT=2025", backend.CommandLines[1], StringComparison.Ordinal);
        Assert.Equal("QUIT", backend.CommandLines[2]);
        Assert.True(backend.Violations.Count == 0, backend.Describe());
    }

    [Fact]
    public async Task Xclient_NotOfferedAndRefused_IsDown_WithTheBackendsWords()
    {
        var options = FakeBackendOptions.Lockstep();
        options.VerbReplies["XCLIENT"] = Refusal;

        var (verdict, backend) = await ProbeAsync(options, Listener(ClientIdentityMode.Xclient));

        Assert.False(verdict.IsUp);
        Assert.StartsWith("XCLIENT refused: " + Refusal + " (the backend does not offer XCLIENT to the proxy;", verdict.Detail, StringComparison.Ordinal);
        Assert.Equal("QUIT", backend.CommandLines[^1]);
    }

    [Fact]
    public async Task Xclient_OfferedButRefused_IsDown()
    {
        var options = FakeBackendOptions.Lockstep("XCLIENT NAME ADDR");
        options.VerbReplies["XCLIENT"] = "421 4.3.2 Service shutting down";

        var (verdict, _) = await ProbeAsync(options, Listener(ClientIdentityMode.Xclient));

        Assert.Equal(ProbeVerdict.Down("XCLIENT refused: 421 4.3.2 Service shutting down"), verdict);
    }

    [Fact]
    public async Task Xclient_NotOfferedYetAccepted_IsDown_BecauseSessionsGoByTheOffer()
    {
        var (verdict, _) = await ProbeAsync(FakeBackendOptions.Lockstep(), Listener(ClientIdentityMode.Xclient));

        Assert.False(verdict.IsUp);
        Assert.Contains("does not offer it in its EHLO reply", verdict.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ProxyV1_HeaderFirst_ThenBannerAndEhlo_IsUp()
    {
        var options = FakeBackendOptions.Lockstep();
        options.ExpectProxyHeader = ProxyHeaderKind.V1;

        var (verdict, backend) = await ProbeAsync(options, Listener(ClientIdentityMode.ProxyV1));

        Assert.Equal(ProbeVerdict.Up("PROXY v1 header taken, banner 220, EHLO 250"), verdict);
        Assert.StartsWith("PROXY TCP4 127.0.0.1 127.0.0.1 ", Encoding.ASCII.GetString(backend.ProxyHeader!), StringComparison.Ordinal);
        Assert.DoesNotContain(backend.CommandLines, l => l.StartsWith("XCLIENT", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ProxyV2_TakenForCommands_IsDown_WithAHint()
    {
        // A backend that expects no header reads it as commands (Postfix answers them: HealthProbeTests) or, as this
        // one, drops a client that talks before its banner.
        var (verdict, _) = await ProbeAsync(FakeBackendOptions.Lockstep(), Listener(ClientIdentityMode.ProxyV2));

        Assert.False(verdict.IsUp);
        Assert.EndsWith("(after the PROXY v2 header: does the backend expect one? Postfix: smtpd_upstream_proxy_protocol = haproxy)", verdict.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task None_OnlyBannerAndEhlo()
    {
        var (verdict, backend) = await ProbeAsync(FakeBackendOptions.Lockstep(), Listener(ClientIdentityMode.None));

        Assert.Equal(ProbeVerdict.Up("banner 220, EHLO 250"), verdict);
        Assert.Equal(["EHLO proxy.test", "QUIT"], backend.CommandLines);
    }

    [Fact]
    public async Task Transparent_FromTheProxysOwnAddress_WithoutIntroduction()
    {
        await using var connector = new FakeBackendConnector(FakeBackendOptions.Lockstep("XCLIENT NAME ADDR"));

        var verdict = await BackendProbe.ProbeAsync(connector, Listener(ClientIdentityMode.Transparent), Timeout, CancellationToken.None);

        Assert.Equal(ProbeVerdict.Up("IP_TRANSPARENT allowed, banner 220, EHLO 250"), verdict);
        // A transparent connection, but from no client's address: the probe has none to take.
        Assert.Equal([null], connector.TransparentSources);
        var backend = await connector.BackendAsync();
        Assert.Equal(["EHLO proxy.test", "QUIT"], backend.CommandLines);
    }

    [Fact]
    public async Task NoBanner_IsDown_SayingWhatNeverCame()
    {
        var options = FakeBackendOptions.Lockstep();
        options.NeverGreet = true;

        var (verdict, _) = await ProbeAsync(options, Listener(ClientIdentityMode.Xclient), TimeSpan.FromMilliseconds(300));

        Assert.Equal(ProbeVerdict.Down("no banner within 0.3s (a backend that expects a PROXY header waits for one; Backend:ClientIdentity is Xclient)"), verdict);
    }

    [Fact]
    public async Task RefusingBanner_IsDown_WithIt()
    {
        var options = FakeBackendOptions.Lockstep();
        options.Banner = ["554 5.3.2 fake.backend Service currently unavailable"];

        var (verdict, _) = await ProbeAsync(options, Listener(ClientIdentityMode.Xclient));

        Assert.Equal(ProbeVerdict.Down("banner: 554 5.3.2 fake.backend Service currently unavailable"), verdict);
    }

    [Fact]
    public async Task StartTls_NotOffered_IsDown()
    {
        var (verdict, _) = await ProbeAsync(FakeBackendOptions.Lockstep("XCLIENT ADDR"), Listener(ClientIdentityMode.Xclient, BackendTlsMode.StartTls));

        Assert.Equal(ProbeVerdict.Down("backend does not offer STARTTLS (Backend:Tls is StartTls)"), verdict);
    }

    [Fact]
    public async Task StartTls_BeforeXclient_AsSessionsDo()
    {
        var options = FakeBackendOptions.Lockstep("XCLIENT NAME ADDR");
        options.StartTlsCertificate = TestCertificate.Instance.Certificate;

        var (verdict, backend) = await ProbeAsync(options, Listener(ClientIdentityMode.Xclient, BackendTlsMode.StartTls));

        Assert.True(verdict.IsUp, verdict.Detail);
        Assert.StartsWith("banner 220, STARTTLS TLS", verdict.Detail, StringComparison.Ordinal);
        Assert.EndsWith(", EHLO 250, XCLIENT 220", verdict.Detail, StringComparison.Ordinal);
        Assert.Equal(["EHLO proxy.test", "STARTTLS", "EHLO proxy.test"], backend.CommandLines.Take(3));
        Assert.StartsWith("XCLIENT ADDR=", backend.CommandLines[3], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Unreachable_IsDown_WithTheConnectError()
    {
        await using var connector = new FakeBackendConnector(FakeBackendOptions.Lockstep()) { Unreachable = true };

        var verdict = await BackendProbe.ProbeAsync(connector, Listener(ClientIdentityMode.Xclient), Timeout, CancellationToken.None);

        Assert.Equal(ProbeVerdict.Down("cannot connect to 127.0.0.1:2525: connection refused"), verdict);
    }
}
