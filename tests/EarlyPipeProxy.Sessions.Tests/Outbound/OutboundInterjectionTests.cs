using EarlyPipeProxy.Sessions.Tests.TestSupport;
using static EarlyPipeProxy.Sessions.Tests.TestSupport.HarnessExtensions;

namespace EarlyPipeProxy.Sessions.Tests.Outbound;

/// <summary>
/// RSET, VRFY, HELP and unknown verbs inside a transaction answered from the cache, pipelined or lockstep: the
/// remote's transaction stays the one the sender believes in, on the session's one connection.
/// </summary>
public sealed class OutboundInterjectionTests
{
    private const string Body = "Subject: test\r\n\r\nHello.\r\n";
    private const string Carol = "RCPT TO:<carol@example.net>";
    private const string Unrecognized = "502 5.5.2 Error: command not recognized";

    [Fact]
    public async Task PipelinedMailRcptRset_ThenANewTransaction_DeliversOneMessageToTheSecondRecipient()
    {
        // Arrange: a remote that refuses a second MAIL while a transaction is open, as Exim and Postfix do.
        var remote = FakeBackendOptions.EarlyPipelining();
        remote.TracksTransaction = true;
        await using var harness = new OutboundSessionHarness(remote);
        harness.SeedCache();
        await harness.StartAndReadBannerAsync(OutboundSessionHarness.LocalBanner);
        await harness.CommandAsync(OutboundSessionHarness.SenderEhlo);

        // Act: the RSET arrives before the flight left, with a RCPT waiting for it.
        var first = await GroupAsync(harness, Sender, Recipient, "RSET");
        var second = await GroupAsync(harness, Sender, Carol, "DATA");
        await harness.Client.SendAsync(Body + ".\r\n");
        var final = await harness.Client.ReadReplyAsync();
        await harness.QuitAsync();

        // Assert
        Assert.Equal([["250 2.1.0 Ok"], ["250 2.1.5 Ok"], ["250 2.0.0 Ok"]], first);
        Assert.Equal([["250 2.1.0 Ok"], ["250 2.1.5 Ok"], ["354 End data with <CR><LF>.<CR><LF>"]], second);
        Assert.Equal(["250 2.0.0 Ok: queued as 1"], final);
        Assert.Equal(1, harness.Connector.Attempts);
        var backend = await harness.RemoteAsync();
        Assert.True(backend.Violations.Count == 0, harness.Describe());
        Assert.Equal([OutboundSessionHarness.SenderEhlo, Sender, Recipient, "RSET", Sender, Carol, "DATA", "QUIT"], backend.CommandLines);
        Assert.Equal([Body], backend.Messages);
    }

    [Theory]
    [InlineData("VRFY bob", false, false)]
    [InlineData("VRFY bob", false, true)]
    [InlineData("HELP", false, false)]
    [InlineData("XYZZY", false, true)]
    [InlineData("VRFY bob", true, true)]
    [InlineData("HELP", true, true)]
    [InlineData("XYZZY", true, true)]
    public async Task VerbWithoutAPlaceInTheFlight_InsideACachedTransaction_KeepsTheMailAndOneConnection(string verb, bool afterRecipient, bool pipelined)
    {
        // Arrange
        var remote = FakeBackendOptions.EarlyPipelining();
        remote.TracksTransaction = true;
        await using var harness = new OutboundSessionHarness(remote);
        harness.SeedCache();
        await harness.StartAndReadBannerAsync(OutboundSessionHarness.LocalBanner);
        await harness.CommandAsync(OutboundSessionHarness.SenderEhlo);
        string[] commands = afterRecipient ? [Sender, Recipient, verb, "DATA"] : [Sender, verb, Recipient, "DATA"];

        // Act
        var replies = pipelined ? await GroupAsync(harness, commands) : await LockstepAsync(harness, commands);
        await harness.Client.SendAsync(Body + ".\r\n");
        var final = await harness.Client.ReadReplyAsync();
        await harness.QuitAsync();

        // Assert: the MAIL the sender was told 250 for is the remote's too, before or after the interjection.
        string[][] expected = afterRecipient
            ? [["250 2.1.0 Ok"], ["250 2.1.5 Ok"], [Unrecognized], ["354 End data with <CR><LF>.<CR><LF>"]]
            : [["250 2.1.0 Ok"], [Unrecognized], ["250 2.1.5 Ok"], ["354 End data with <CR><LF>.<CR><LF>"]];
        Assert.Equal(expected, replies);
        Assert.Equal(["250 2.0.0 Ok: queued as 1"], final);
        Assert.Equal(1, harness.Connector.Attempts);
        var backend = await harness.RemoteAsync();
        Assert.True(backend.Violations.Count == 0, harness.Describe());
        Assert.Equal([OutboundSessionHarness.SenderEhlo, .. commands, "QUIT"], backend.CommandLines);
        Assert.Equal([Body], backend.Messages);
    }

    /// <summary>The commands in one write, as a pipelining sender groups them; then each reply.</summary>
    private static async Task<string[][]> GroupAsync(OutboundSessionHarness harness, params string[] commands)
    {
        await harness.Client.SendAsync(string.Concat(commands.Select(command => command + "\r\n")));
        var replies = new List<string[]>();
        foreach (var _ in commands)
        {
            replies.Add(await harness.Client.ReadReplyAsync());
        }

        return [.. replies];
    }

    private static async Task<string[][]> LockstepAsync(OutboundSessionHarness harness, string[] commands)
    {
        var replies = new List<string[]>();
        foreach (var command in commands)
        {
            replies.Add(await harness.CommandAsync(command));
        }

        return [.. replies];
    }
}
