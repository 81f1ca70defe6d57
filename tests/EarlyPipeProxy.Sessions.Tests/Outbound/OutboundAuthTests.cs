using EarlyPipeProxy.Sessions.Tests.TestSupport;

namespace EarlyPipeProxy.Sessions.Tests.Outbound;

/// <summary>AUTH toward a smarthost: offered to the sender as the remote offers it, and relayed line by line.</summary>
public sealed class OutboundAuthTests
{
    private const string Recipient = "RCPT TO:<b@remote.test>";

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Auth_IsRelayedToTheRemote_SaslAnswersAreNeverTakenForCommands(bool cached)
    {
        // Arrange: a remote that asks two LOGIN questions; the second answer happens to spell "QUIT".
        var remote = FakeBackendOptions.EarlyPipelining("AUTH LOGIN PLAIN");
        await using var harness = new OutboundSessionHarness(remote);
        if (cached)
        {
            harness.SeedCache();
        }

        harness.Start();
        await harness.Client.ReadReplyAsync();
        var ehlo = await harness.CommandAsync("EHLO " + OutboundSessionHarness.SenderName);
        Assert.Contains(ehlo, line => line[4..] == "AUTH LOGIN PLAIN");

        // Act
        var login = await harness.CommandAsync("AUTH LOGIN");
        var user = await harness.CommandAsync("dXNlcg==");
        var password = await harness.CommandAsync("QUIT");
        var mail = await harness.CommandAsync("MAIL FROM:<a@sender.test>");
        var rcpt = await harness.CommandAsync(Recipient);

        // Assert: the remote's own challenges and verdict; the answers reached it verbatim.
        Assert.Equal(["334 VXNlcm5hbWU6"], login);
        Assert.Equal(["334 UGFzc3dvcmQ6"], user);
        Assert.Equal(["235 2.7.0 Authentication successful"], password);
        Assert.Equal("250", mail[0][..3]);
        Assert.Equal("250", rcpt[0][..3]);
        var backend = await harness.RemoteAsync();
        Assert.Equal(["dXNlcg==", "QUIT"], backend.AuthAnswers);
        Assert.Equal(["AUTH LOGIN", "MAIL FROM:<a@sender.test>", Recipient], backend.CommandLines.SkipWhile(l => !l.StartsWith("AUTH", StringComparison.Ordinal)).Take(3));
    }

    [Fact]
    public async Task Auth_DuringATransaction_IsRefusedWithoutReachingTheRemote()
    {
        await using var harness = new OutboundSessionHarness(FakeBackendOptions.EarlyPipelining("AUTH PLAIN"));
        harness.Start();
        await harness.Client.ReadReplyAsync();
        await harness.CommandAsync("EHLO " + OutboundSessionHarness.SenderName);
        await harness.CommandAsync("MAIL FROM:<a@sender.test>");

        var auth = await harness.CommandAsync("AUTH PLAIN AGEAYg==");

        Assert.Equal("503", auth[0][..3]);
        var backend = await harness.RemoteAsync();
        Assert.DoesNotContain(backend.CommandLines, l => l.StartsWith("AUTH", StringComparison.Ordinal));
    }
}
