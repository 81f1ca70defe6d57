using EarlyPipeProxy.Sessions.Telemetry;
using EarlyPipeProxy.Sessions.Tests.TestSupport;

namespace EarlyPipeProxy.Sessions.Tests.Shared;

/// <summary>
/// Drift 5, closed: a cancelled read ends a session the same way in both directions. A graceful stop asked for while
/// a message body is coming does not interrupt it: the body is taken whole, the end-of-data reply is the upstream's,
/// and only then does the peer get 421 4.3.2 and the session end as "shutdown". The same for a stop while idle (at
/// once) and during a SASL exchange (after it).
/// </summary>
public sealed class GracefulStopTests
{
    private const string ShuttingDown = "421 4.3.2 Service shutting down\r\n";

    [Theory]
    [InlineData(Direction.Inbound)]
    [InlineData(Direction.Outbound)]
    public async Task CloseRequested_AfterThe354BeforeTheFinalDot_MessageCompletesThen421AndEndShutdown(string direction)
    {
        // Arrange
        await using var session = DirectedSession.Create(direction, FakeBackendOptions.Lockstep());
        await session.StartAndEhloAsync();
        Assert.Equal(["250 2.1.0 Ok"], await session.CommandAsync(HarnessExtensions.Sender));
        Assert.Equal(["250 2.1.5 Ok"], await session.CommandAsync(HarnessExtensions.Recipient));
        Assert.Equal(["354 End data with <CR><LF>.<CR><LF>"], await session.CommandAsync("DATA"));
        await session.Client.SendAsync("Subject: test\r\n\r\nfirst part\r\n");

        // Act
        session.RequestClose();
        var quietDuringData = await session.Client.IsQuietAsync(TimeSpan.FromMilliseconds(200));
        await session.Client.SendAsync("second part\r\n.\r\n");
        var endOfData = await session.Client.ReadReplyAsync();
        var rest = await session.Client.ReadToEndAsync();
        await session.WaitForEndAsync();

        // Assert: the peer
        Assert.True(quietDuringData, "no 421 in the middle of a message\n" + session.Describe());
        Assert.Equal(["250 2.0.0 Ok: queued as 1"], endOfData);
        Assert.Equal(ShuttingDown, rest);

        // Assert: the upstream took the whole message and was closed politely
        var upstream = await session.UpstreamAsync();
        Assert.Equal(["Subject: test\r\n\r\nfirst part\r\nsecond part\r\n"], upstream.Messages);
        Assert.Equal([session.Ehlo, HarnessExtensions.Sender, HarnessExtensions.Recipient, "DATA"], upstream.CommandLines.Take(4));
        Assert.False(await upstream.SessionClosed.WaitAsync(Wire.Patience), "nothing was under way: the upstream is closed politely");

        // Assert: the session line
        var line = session.SessionLine();
        Assert.Contains(" M=1 ", line, StringComparison.Ordinal);
        Assert.EndsWith("end=\"shutdown\"", line, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(Direction.Inbound)]
    [InlineData(Direction.Outbound)]
    public async Task CloseRequested_WhileIdleBetweenTransactions_421AtOnceAndEndShutdown(string direction)
    {
        // Arrange
        await using var session = DirectedSession.Create(direction, FakeBackendOptions.Lockstep());
        await session.StartAndEhloAsync();

        // Act
        session.RequestClose();
        var everything = await session.Client.ReadToEndAsync();
        await session.WaitForEndAsync();

        // Assert
        Assert.Equal(ShuttingDown, everything);
        var upstream = await session.UpstreamAsync();
        Assert.False(await upstream.SessionClosed.WaitAsync(Wire.Patience), "nothing was under way: the upstream is closed politely");
        Assert.EndsWith("end=\"shutdown\"", session.SessionLine(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(Direction.Inbound)]
    [InlineData(Direction.Outbound)]
    public async Task CloseRequested_DuringSaslExchange_ExchangeFinishesThen421AndEndShutdown(string direction)
    {
        // Arrange
        await using var session = DirectedSession.Create(direction, FakeBackendOptions.Lockstep("AUTH PLAIN LOGIN"), cleartextAuth: true);
        await session.StartAndEhloAsync();
        Assert.Equal(["334 VXNlcm5hbWU6"], await session.CommandAsync("AUTH LOGIN"));

        // Act
        session.RequestClose();
        var quietDuringAuth = await session.Client.IsQuietAsync(TimeSpan.FromMilliseconds(200));
        var user = await session.CommandAsync("dXNlcg==");
        var verdict = await session.CommandAsync("c2VjcmV0");
        var rest = await session.Client.ReadToEndAsync();
        await session.WaitForEndAsync();

        // Assert
        Assert.True(quietDuringAuth, "no 421 in the middle of a SASL exchange\n" + session.Describe());
        Assert.Equal(["334 UGFzc3dvcmQ6"], user);
        Assert.Equal(["235 2.7.0 Authentication successful"], verdict);
        Assert.Equal(ShuttingDown, rest);
        var upstream = await session.UpstreamAsync();
        Assert.Equal(["dXNlcg==", "c2VjcmV0"], upstream.AuthAnswers);
        Assert.EndsWith("end=\"shutdown\"", session.SessionLine(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(Direction.Inbound)]
    [InlineData(Direction.Outbound)]
    public async Task CloseRequested_WhileIdleOverStartTls_421OverTlsAndEndShutdown(string direction)
    {
        // Arrange: the peer's connection is under TLS, so the session reads the TLS layer's pipe, not the socket's.
        await using var session = DirectedSession.Create(direction, FakeBackendOptions.Lockstep(), peerTls: true);
        await session.StartAndEhloAsync();
        Assert.Equal(["220 2.0.0 Ready to start TLS"], await session.CommandAsync("STARTTLS"));
        await session.Client.StartTlsAsync();
        Assert.StartsWith("250 ", (await session.CommandAsync(session.Ehlo))[^1], StringComparison.Ordinal);

        // Act
        session.RequestClose();
        var everything = await session.Client.ReadToEndAsync();
        await session.WaitForEndAsync();

        // Assert
        Assert.Equal(ShuttingDown, everything);
        Assert.True(session.Client.CloseNotifyReceived, "the session ends TLS with close_notify");
        var line = session.SessionLine();
        Assert.Contains(" X=TLS1.", line, StringComparison.Ordinal);
        Assert.EndsWith("end=\"shutdown\"", line, StringComparison.Ordinal);
    }
}
