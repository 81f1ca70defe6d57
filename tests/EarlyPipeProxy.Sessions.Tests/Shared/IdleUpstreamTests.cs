using System.Diagnostics;
using EarlyPipeProxy.Sessions.Configuration;
using EarlyPipeProxy.Sessions.Telemetry;
using EarlyPipeProxy.Sessions.Tests.TestSupport;

namespace EarlyPipeProxy.Sessions.Tests.Shared;

/// <summary>
/// Issue 11 items 3 and 6, while the session waits for its peer's next command and the upstream owes nothing: what
/// the upstream says then reaches the peer at once. Its own 421 (Postfix's smtpd_timeout, a stop) is relayed and the
/// session ends; a close is answered with the proxy's 421; any other reply is out of step: 421, and the upstream is
/// reset. Both directions, the peer's command timeout far away so that only the watch can explain a prompt answer.
/// </summary>
public sealed class IdleUpstreamTests
{
    private static readonly TimeSpan UpstreamIdle = TimeSpan.FromMilliseconds(300);

    // Well inside Wire.Patience; the peer's own command timeout (30 s) is far beyond it.
    private static readonly TimeSpan AtOnce = TimeSpan.FromSeconds(2.5);

    private static void LongCommandTimeout(SessionTimeouts timeouts) => timeouts.Command = TimeSpan.FromSeconds(30);

    private static string Upstream(string direction) => direction == Direction.Inbound ? "backend" : "remote";

    private static string ProxyUnavailable(string direction) => direction == Direction.Inbound
        ? "421 4.4.2 Service not available: backend connection failed"
        : "421 4.4.2 Service not available: remote server connection failed";

    [Theory]
    [InlineData(Direction.Inbound)]
    [InlineData(Direction.Outbound)]
    public async Task UpstreamSays421WhileIdle_ThePeerGetsItsWordsAtOnceAndTheSessionEnds(string direction)
    {
        // Arrange: Postfix's smtpd_timeout, shorter than the proxy's.
        var upstreamOptions = FakeBackendOptions.Pipelining();
        upstreamOptions.IdleTimeout = UpstreamIdle;
        await using var session = DirectedSession.Create(direction, upstreamOptions, timeouts: LongCommandTimeout);
        await session.StartAndEhloAsync();
        var idle = Stopwatch.StartNew();

        // Act: the peer says nothing more.
        var reply = await session.Client.ReadReplyAsync();
        var rest = await session.Client.ReadToEndAsync();
        await session.WaitForEndAsync();

        // Assert
        Assert.Equal([FakeBackendOptions.IdleTimeoutReply], reply);
        Assert.InRange(idle.Elapsed, UpstreamIdle - TimeSpan.FromMilliseconds(50), AtOnce);
        Assert.Equal(string.Empty, rest);
        var upstream = await session.UpstreamAsync();
        Assert.True(await upstream.SessionClosed.WaitAsync(Wire.Patience), "the upstream connection is reset, not ended politely");
        Assert.DoesNotContain("QUIT", upstream.CommandLines);
        Assert.Contains("end=\"" + Upstream(direction) + " closed with 421\"", session.SessionLine(), StringComparison.Ordinal);
        Assert.Contains(session.Log.Lines, l => l.Contains("closed the session while nothing was owed", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(Direction.Inbound)]
    [InlineData(Direction.Outbound)]
    public async Task UpstreamClosesWhileIdle_ThePeerGets421AtOnce(string direction)
    {
        // Arrange
        var upstreamOptions = FakeBackendOptions.Lockstep();
        upstreamOptions.IdleTimeout = UpstreamIdle;
        upstreamOptions.IdleReply = null;
        await using var session = DirectedSession.Create(direction, upstreamOptions, timeouts: LongCommandTimeout);
        await session.StartAndEhloAsync();
        var idle = Stopwatch.StartNew();

        // Act
        var reply = await session.Client.ReadReplyAsync();
        var rest = await session.Client.ReadToEndAsync();
        await session.WaitForEndAsync();

        // Assert
        Assert.Equal([ProxyUnavailable(direction)], reply);
        Assert.InRange(idle.Elapsed, TimeSpan.Zero, AtOnce);
        Assert.Equal(string.Empty, rest);
        Assert.Contains("end=\"" + Upstream(direction) + " closed\"", session.SessionLine(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(Direction.Inbound)]
    [InlineData(Direction.Outbound)]
    public async Task UpstreamSendsAReplyWhileNothingIsOwed_421AndTheUpstreamIsResetAtOnce(string direction)
    {
        // Arrange: a reply no command asked for, and the upstream stays; it must not answer the next command.
        var upstreamOptions = FakeBackendOptions.Pipelining();
        upstreamOptions.IdleTimeout = UpstreamIdle;
        upstreamOptions.IdleReply = "250 2.0.0 Ok, and a reply nobody asked for";
        upstreamOptions.IdleCloses = false;
        await using var session = DirectedSession.Create(direction, upstreamOptions, timeouts: LongCommandTimeout);
        await session.StartAndEhloAsync();
        var idle = Stopwatch.StartNew();

        // Act
        var reply = await session.Client.ReadReplyAsync();
        var rest = await session.Client.ReadToEndAsync();
        await session.WaitForEndAsync();

        // Assert
        Assert.Equal([ProxyUnavailable(direction)], reply);
        Assert.InRange(idle.Elapsed, TimeSpan.Zero, AtOnce);
        Assert.Equal(string.Empty, rest);
        var upstream = await session.UpstreamAsync();
        Assert.True(await upstream.SessionClosed.WaitAsync(Wire.Patience), "the upstream connection must be reset");
        Assert.DoesNotContain("QUIT", upstream.CommandLines);
        Assert.Contains("end=\"" + Upstream(direction) + " refused or misbehaved\"", session.SessionLine(), StringComparison.Ordinal);
        Assert.Contains(session.Log.Lines, l => l.StartsWith("Warning: ", StringComparison.Ordinal)
            && l.Contains("sent a reply while nothing was owed (out of step): 250 2.0.0 Ok, and a reply nobody asked for", StringComparison.Ordinal));
    }

    [Fact]
    public async Task BackendOverTlsSays421WhileIdle_TheClientGetsItsWordsAtOnce()
    {
        // Arrange: the watch reads the TLS layer's pipe, not the socket's.
        var backendOptions = FakeBackendOptions.Lockstep();
        backendOptions.StartTlsCertificate = TestCertificate.Instance.Certificate;
        backendOptions.IdleTimeout = UpstreamIdle;
        await using var harness = new SessionHarness(backendOptions, o =>
        {
            o.Backend.Tls = BackendTlsMode.StartTls;
            o.Backend.VerifyCertificate = false;
            o.Timeouts.Command = TimeSpan.FromSeconds(30);
        });
        await harness.StartAndEhloAsync();
        var idle = Stopwatch.StartNew();

        // Act
        var reply = await harness.Client.ReadReplyAsync();
        await harness.WaitForEndAsync();

        // Assert
        Assert.Equal([FakeBackendOptions.IdleTimeoutReply], reply);
        Assert.InRange(idle.Elapsed, TimeSpan.Zero, AtOnce);
        var backend = await harness.BackendAsync();
        Assert.NotNull(backend.Tls);
    }

    [Fact]
    public async Task RemoteSays421WhileTheSenderIdlesAfterAMailAcknowledgedHere_TheSenderGetsItAtOnce()
    {
        // Arrange: toward a pipelining remote MAIL is answered here and waits, unsent, for the first RCPT; the remote
        // owes nothing meanwhile.
        var remote = FakeBackendOptions.Pipelining();
        remote.IdleTimeout = UpstreamIdle;
        await using var harness = new OutboundSessionHarness(remote, configure: o => o.Timeouts.Command = TimeSpan.FromSeconds(30));
        await harness.StartAndReadBannerAsync(FakeBackendOptions.FinalBannerLine);
        Assert.StartsWith("250 ", (await harness.CommandAsync(OutboundSessionHarness.SenderEhlo))[^1], StringComparison.Ordinal);

        // Act
        var mail = await harness.CommandAsync(HarnessExtensions.Sender);
        var idle = Stopwatch.StartNew();
        var reply = await harness.Client.ReadReplyAsync();
        await harness.WaitForEndAsync();

        // Assert
        Assert.Equal(["250 2.1.0 Ok"], mail);
        Assert.Equal([FakeBackendOptions.IdleTimeoutReply], reply);
        Assert.InRange(idle.Elapsed, TimeSpan.Zero, AtOnce);
        var backend = await harness.RemoteAsync();
        Assert.DoesNotContain(backend.CommandLines, line => line.StartsWith("MAIL", StringComparison.Ordinal));
    }

    [Fact]
    public async Task SenderIdlesBeforeTheLazyConnect_NothingIsWatchedAndTheEarlyFlightGoesOn()
    {
        // Arrange: greeted from the cache, the sender idles before anything needs the remote.
        var remote = FakeBackendOptions.EarlyPipelining();
        await using var harness = new OutboundSessionHarness(remote);
        harness.SeedCache();
        await harness.StartAndReadBannerAsync(OutboundSessionHarness.LocalBanner);
        Assert.StartsWith("250 ", (await harness.CommandAsync(OutboundSessionHarness.SenderEhlo))[^1], StringComparison.Ordinal);
        Assert.Equal(["250 2.1.0 Ok"], await harness.CommandAsync(HarnessExtensions.Sender));

        // Act
        Assert.True(await harness.Client.IsQuietAsync(TimeSpan.FromMilliseconds(300)));
        var rcpt = await harness.CommandAsync(HarnessExtensions.Recipient);
        await harness.QuitAsync();

        // Assert
        Assert.Equal(["250 2.1.5 Ok"], rcpt);
        Assert.Equal(1, harness.Connector.Attempts);
        Assert.Contains("end=\"QUIT\"", Assert.Single(harness.Log.Lines, l => l.StartsWith("Information: outbound ", StringComparison.Ordinal)),
            StringComparison.Ordinal);
    }

    public static TheoryData<string, int> Splits()
    {
        var data = new TheoryData<string, int>();
        foreach (var direction in new[] { Direction.Inbound, Direction.Outbound })
        {
            for (var split = 0; split <= PipelinedGroup.Length; split++)
            {
                data.Add(direction, split);
            }
        }

        return data;
    }

    private const string PipelinedGroup = "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nNOOP\r\n";

    [Theory]
    [MemberData(nameof(Splits))]
    public async Task PipelinedCommandsSplitAnywhere_NoReplyIsTakenForUnsolicited(string direction, int split)
    {
        // Arrange: the peer pauses mid-group; replies owed to its first part come while the watch may be armed.
        await using var session = DirectedSession.Create(direction, FakeBackendOptions.Pipelining());
        await session.StartAndEhloAsync();

        // Act
        await session.Client.SendAsync(PipelinedGroup[..split]);
        await Task.Delay(15);
        await session.Client.SendAsync(PipelinedGroup[split..] + "QUIT\r\n");
        var replies = new[]
        {
            await session.Client.ReadReplyAsync(),
            await session.Client.ReadReplyAsync(),
            await session.Client.ReadReplyAsync(),
            await session.Client.ReadReplyAsync(),
        };
        await session.WaitForEndAsync();

        // Assert
        Assert.Equal(["250 2.1.0 Ok", "250 2.1.5 Ok", "250 2.0.0 Ok", "221 2.0.0 Bye"], replies.Select(r => r[^1]));
        Assert.Contains("end=\"QUIT\"", session.SessionLine(), StringComparison.Ordinal);
    }
}
