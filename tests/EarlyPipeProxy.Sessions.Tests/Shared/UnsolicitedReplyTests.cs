using EarlyPipeProxy.Sessions.Telemetry;
using EarlyPipeProxy.Sessions.Tests.TestSupport;

namespace EarlyPipeProxy.Sessions.Tests.Shared;

/// <summary>
/// Issue 11 item 6: an upstream that answers one command twice is out of step. Relaying the extra reply would shift
/// every later answer onto the wrong command (a 250 meant for RSET read as the answer to RCPT, say), so the session
/// gives the upstream up: 421 to the peer, the upstream connection reset, in both directions.
/// </summary>
public sealed class UnsolicitedReplyTests
{
    [Theory]
    [InlineData(Direction.Inbound)]
    [InlineData(Direction.Outbound)]
    public async Task TwoRepliesToOneCommand_421AndTheUpstreamIsReset(string direction)
    {
        // Arrange
        var upstreamOptions = FakeBackendOptions.Lockstep();
        upstreamOptions.VerbReplies["NOOP"] = "250 2.0.0 Ok\r\n250 2.1.5 Ok, and a reply nobody asked for";
        await using var session = DirectedSession.Create(direction, upstreamOptions);
        await session.StartAndEhloAsync();

        // Act
        var noop = await session.CommandAsync("NOOP");
        var next = await session.Client.ReadReplyAsync();
        await session.WaitForEndAsync();

        // Assert: the first reply is the command's; the extra one is never relayed as an answer.
        Assert.Equal(["250 2.0.0 Ok"], noop);
        Assert.NotNull(next);
        Assert.StartsWith("421 4.4.2 ", next[0], StringComparison.Ordinal);
        Assert.DoesNotContain("nobody asked for", string.Join('\n', next), StringComparison.Ordinal);
        var upstream = await session.UpstreamAsync();
        Assert.True(await upstream.SessionClosed.WaitAsync(Wire.Patience), "the upstream connection must be reset");
        Assert.DoesNotContain("QUIT", upstream.CommandLines);
        Assert.Contains("end=\"" + (direction == Direction.Inbound ? "backend" : "remote") + " refused or misbehaved\"", session.SessionLine(), StringComparison.Ordinal);
    }
}
