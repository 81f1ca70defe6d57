using EarlyPipeProxy.Sessions.Telemetry;
using EarlyPipeProxy.Sessions.Tests.TestSupport;

namespace EarlyPipeProxy.Sessions.Tests.Shared;

/// <summary>
/// Drift 3, closed: STARTTLS after a successful AUTH is refused in both directions (the upstream never sees the
/// proxy's STARTTLS, so it would keep a login made in cleartext, against RFC 3207 §4.2).
/// </summary>
public sealed class StartTlsAfterAuthTests
{
    [Theory]
    [InlineData(Direction.Inbound)]
    [InlineData(Direction.Outbound)]
    public async Task StartTls_AfterSuccessfulAuth_Replies503AndTheSessionGoesOnInCleartext(string direction)
    {
        // Arrange
        await using var session = DirectedSession.Create(direction, FakeBackendOptions.Lockstep("AUTH PLAIN LOGIN"), peerTls: true, cleartextAuth: true);
        var ehlo = await session.StartAndEhloAsync();
        Assert.Contains(ehlo, l => l[4..] == "STARTTLS");
        Assert.Equal(["334 VXNlcm5hbWU6"], await session.CommandAsync("AUTH LOGIN"));
        Assert.Equal(["334 UGFzc3dvcmQ6"], await session.CommandAsync("dXNlcg=="));
        Assert.Equal(["235 2.7.0 Authentication successful"], await session.CommandAsync("c2VjcmV0"));

        // Act
        var startTls = await session.CommandAsync("STARTTLS");
        var noop = await session.CommandAsync("NOOP");
        var quit = await session.CommandAsync("QUIT");
        await session.WaitForEndAsync();

        // Assert
        Assert.Equal(["503 5.5.1 Error: STARTTLS after AUTH is not supported"], startTls);
        Assert.Equal(["250 2.0.0 Ok"], noop);
        Assert.Equal(["221 2.0.0 Bye"], quit);
        Assert.Null(session.Client.Tls);
        var upstream = await session.UpstreamAsync();
        Assert.Equal([session.Ehlo, "AUTH LOGIN", "NOOP", "QUIT"], upstream.CommandLines);
        Assert.Equal(["dXNlcg==", "c2VjcmV0"], upstream.AuthAnswers);
        var line = session.SessionLine();
        Assert.DoesNotContain(" X=", line, StringComparison.Ordinal);
        Assert.Contains("end=\"QUIT\"", line, StringComparison.Ordinal);
    }
}
