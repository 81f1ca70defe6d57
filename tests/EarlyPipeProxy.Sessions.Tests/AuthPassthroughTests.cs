using EarlyPipeProxy.Sessions.Tests.TestSupport;

namespace EarlyPipeProxy.Sessions.Tests;

/// <summary>AUTH passes through: challenges to the client, answers back as lines, never as commands.</summary>
public sealed class AuthPassthroughTests
{
    [Fact]
    public async Task AuthAsync_AnswerThatLooksLikeACommand_IsRelayedAsAnswerAndBackendVerdictRelayed()
    {
        // Arrange
        await using var harness = new SessionHarness(FakeBackendOptions.Lockstep("AUTH PLAIN LOGIN"), o => o.AllowCleartextAuth = true);
        var ehlo = await harness.StartAndEhloAsync();

        // Act
        await harness.Client.SendAsync("AUTH LOGIN\r\n");
        var first = await harness.Client.ReadReplyAsync();
        await harness.Client.SendAsync("MAIL FROM:<x>\r\n");
        var second = await harness.Client.ReadReplyAsync();
        await harness.Client.SendAsync("c2VjcmV0\r\n");
        var verdict = await harness.Client.ReadReplyAsync();
        await harness.Client.SendAsync("QUIT\r\n");
        var quit = await harness.Client.ReadReplyAsync();
        await harness.WaitForEndAsync();

        // Assert
        Assert.Contains("250-AUTH PLAIN LOGIN", ehlo);
        Assert.Equal(["334 VXNlcm5hbWU6"], first);
        Assert.Equal(["334 UGFzc3dvcmQ6"], second);
        Assert.Equal(["235 2.7.0 Authentication successful"], verdict);
        Assert.Equal(["221 2.0.0 Bye"], quit);
        var backend = await harness.BackendAsync();
        Assert.True(backend.Violations.Count == 0, backend.Describe());
        Assert.Equal(["MAIL FROM:<x>", "c2VjcmV0"], backend.AuthAnswers);
        Assert.Equal(["EHLO client.example", "AUTH LOGIN", "QUIT"], backend.CommandLines);
    }
}
