namespace EarlyPipeProxy.EndToEnd.Tests.Infrastructure;

/// <summary>What an Exim server's log and maildir say about a message sent by tests/peers/lockstep-send.py.</summary>
public static class EximAssert
{
    /// <summary>
    /// The message was received by Exim exactly once (one "&lt;=" line since <paramref name="mark"/>), the sender's
    /// end-of-data reply ends with that very receipt ("250 OK id=..."), and once Exim completed it exactly one copy for
    /// <paramref name="recipient"/> is in the maildir, with the body as sent, dot lines included.
    /// </summary>
    public static async Task StoredOnceAsync(EximServer server, long mark, LockstepMessageReport message, string recipient)
    {
        var line = await EximReceipts.WaitForReceivedLineAsync(server.Log, mark, message.MessageIdBare);
        var received = EximReceipts.ReceivedLines(server.Log, mark, message.MessageIdBare);
        Assert.True(received.Count == 1, $"{message.Id}: Exim received it {received.Count} times:\n{string.Join('\n', received)}");
        var eximId = line.Split(' ')[2];
        // The proxy sends the message as BDAT to a CHUNKING Exim, whose answer to BDAT LAST has a chunk line first
        // ("250- 304 byte chunk, total 304"); the last line is the receipt either way.
        Assert.Equal($"250 OK id={eximId}", message.Reply?.Split('\n')[^1]);
        await server.Log.WaitForLineAsync(mark, l => l.EndsWith($" {eximId} Completed", StringComparison.Ordinal), $"Exim to complete {eximId}");
        var stored = server.Maildir.MessagesContaining(message.MessageId)
            .Where(m => Maildir.FirstHeader(m.Content, "Envelope-to") == "Envelope-to: " + recipient)
            .ToList();
        Assert.True(stored.Count == 1, $"{message.Id}: expected one copy for {recipient} in {server.Maildir.NewDir}, found {stored.Count}");
        Assert.Equal(Messages.WithDotsBody, Maildir.Body(stored[0].Content));
    }
}
