using EarlyPipeProxy.Sessions.Telemetry;
using EarlyPipeProxy.Sessions.Tests.TestSupport;

namespace EarlyPipeProxy.Sessions.Tests.Shared;

/// <summary>
/// Drift 4, closed: AUTH is relayed by one design in both directions. A SASL answer over the auth line limit is not
/// relayed: the rest of it is skipped and the upstream gets "*" (RFC 4954 §4), whose reply the peer gets. An answer
/// that spells a command ("QUIT") is an answer, relayed, never executed.
/// </summary>
public sealed class SaslRelayTests
{
    private const int AuthLineLimit = 100;

    [Theory]
    [InlineData(Direction.Inbound)]
    [InlineData(Direction.Outbound)]
    public async Task Auth_AnswerLongerThanTheAuthLineLimit_CancelsTheExchangeAndTheUpstreamRefusalReachesThePeer(string direction)
    {
        // Arrange
        await using var session = DirectedSession.Create(direction, FakeBackendOptions.Lockstep("AUTH PLAIN LOGIN"),
            limits: l => l.MaxAuthLineLength = AuthLineLimit, cleartextAuth: true);
        await session.StartAndEhloAsync();
        Assert.Equal(["334 VXNlcm5hbWU6"], await session.CommandAsync("AUTH LOGIN"));
        var tooLong = new string('Q', AuthLineLimit * 3);

        // Act: the over-long answer comes in two writes, so its rest must be skipped after the limit was seen.
        await session.Client.SendAsync(tooLong);
        await session.Client.SendAsync(tooLong + "\r\n");
        var cancelled = await session.Client.ReadReplyAsync();
        var noop = await session.CommandAsync("NOOP");
        var quit = await session.CommandAsync("QUIT");
        await session.WaitForEndAsync();

        // Assert: the peer got the upstream's own answer to the cancel, and the session went on
        Assert.Equal(["501 5.7.0 Authentication cancelled"], cancelled);
        Assert.Equal(["250 2.0.0 Ok"], noop);
        Assert.Equal(["221 2.0.0 Bye"], quit);

        // Assert: the upstream got "*" and nothing of the answer
        var upstream = await session.UpstreamAsync();
        Assert.Equal(["*"], upstream.AuthAnswers);
        Assert.Contains("AUTH LOGIN\r\n*\r\nNOOP\r\n", upstream.ReceivedText, StringComparison.Ordinal);
        Assert.DoesNotContain("QQQQ", upstream.ReceivedText, StringComparison.Ordinal);
        Assert.Equal([session.Ehlo, "AUTH LOGIN", "NOOP", "QUIT"], upstream.CommandLines);
        Assert.DoesNotContain(session.Log.Lines, l => l.Contains("QQQQ", StringComparison.Ordinal));
        Assert.Contains("end=\"QUIT\"", session.SessionLine(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(Direction.Inbound)]
    [InlineData(Direction.Outbound)]
    public async Task Auth_AnswerThatSpellsQuit_IsRelayedAsAnAnswerNotExecuted(string direction)
    {
        // Arrange
        await using var session = DirectedSession.Create(direction, FakeBackendOptions.Lockstep("AUTH PLAIN LOGIN"), cleartextAuth: true);
        await session.StartAndEhloAsync();

        // Act
        var login = await session.CommandAsync("AUTH LOGIN");
        var user = await session.CommandAsync("QUIT");
        var verdict = await session.CommandAsync("c2VjcmV0");
        var noop = await session.CommandAsync("NOOP");
        var quit = await session.CommandAsync("QUIT");
        await session.WaitForEndAsync();

        // Assert
        Assert.Equal(["334 VXNlcm5hbWU6"], login);
        Assert.Equal(["334 UGFzc3dvcmQ6"], user);
        Assert.Equal(["235 2.7.0 Authentication successful"], verdict);
        Assert.Equal(["250 2.0.0 Ok"], noop);
        Assert.Equal(["221 2.0.0 Bye"], quit);
        var upstream = await session.UpstreamAsync();
        Assert.Equal(["QUIT", "c2VjcmV0"], upstream.AuthAnswers);
        Assert.Equal([session.Ehlo, "AUTH LOGIN", "NOOP", "QUIT"], upstream.CommandLines);
        var line = session.SessionLine();
        Assert.Contains("end=\"QUIT\"", line, StringComparison.Ordinal);

        // The answers are no commands: EHLO, AUTH, NOOP and QUIT were.
        Assert.Contains(" C=4 ", line, StringComparison.Ordinal);
    }
}
