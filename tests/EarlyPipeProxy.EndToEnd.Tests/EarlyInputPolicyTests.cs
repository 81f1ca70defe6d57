using EarlyPipeProxy.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace EarlyPipeProxy.EndToEnd.Tests;

/// <summary>Test 4: early input is only accepted from hosts in PipeConnect.AdvertiseHosts.</summary>
[Collection(EndToEndCollection.Name)]
public sealed class EarlyInputPolicyTests(PostfixFixture postfix, ITestOutputHelper output)
{
    [SkippableFact]
    public async Task Early_talker_outside_AdvertiseHosts_gets_554_and_nothing_reaches_Postfix()
    {
        await postfix.EnsureStartedAsync();
        await using var proxy = await ProxyProcess.StartAsync(output, Listener());
        var id = Ids.New("early-deny");
        var mark = postfix.Log.Mark();

        var replies = await SendEarlyAsync(proxy["smtp"].ListenPort, "127.0.0.1", id);

        Assert.NotEmpty(replies);
        Assert.Equal(554, replies[0].Code);
        Assert.True(replies.Count == 1, "the connection should close after the 554:\n" + string.Join('\n', replies));
        await postfix.SettleAsync();
        Assert.Empty(postfix.Maildir.MessagesContaining(id));
        var log = postfix.Log.LinesSince(mark);
        Assert.DoesNotContain(log, l => l.Contains(id, StringComparison.Ordinal));
        // the only session that issued MAIL/RCPT since the mark is SettleAsync's sentinel
        Assert.Single(log, l => l.Contains("disconnect from", StringComparison.Ordinal) && l.Contains(" mail=", StringComparison.Ordinal));
    }

    [SkippableFact]
    public async Task Control_the_same_bytes_from_an_advertised_host_are_answered_and_delivered()
    {
        await postfix.EnsureStartedAsync();
        await using var proxy = await ProxyProcess.StartAsync(output, Listener());
        var id = Ids.New("early-ok");
        var mark = postfix.Log.Mark();

        var replies = await SendEarlyAsync(proxy["smtp"].ListenPort, "127.0.0.2", id);

        Assert.True(replies.Count >= 6, "expected 220, EHLO, MAIL, RCPT, DATA, end-of-data replies:\n" + string.Join('\n', replies));
        Assert.Equal([220, 250, 250, 250, 354, 250], replies.Take(6).Select(r => r.Code));
        Assert.Contains(replies[1].Lines, l => l.Contains("PIPECONNECT", StringComparison.Ordinal));
        var stored = await postfix.Maildir.WaitForMessageAsync("X-Marker: " + id);
        Assert.Equal("early body\n", Maildir.Body(stored));
        await postfix.WaitForSessionsToEndAsync(mark);
        postfix.AssertNoPipeliningViolations(mark);
    }

    private ListenerSpec Listener() =>
        new("smtp", postfix.SmtpPort, "Xclient") { AdvertiseHosts = ["127.0.0.2/32"] };

    /// <summary>
    /// Writes EHLO, MAIL, RCPT and DATA immediately on connect (before any greeting); like a conforming
    /// PIPECONNECT client, the body (and QUIT) follows only after a 354.
    /// </summary>
    private async Task<IReadOnlyList<SmtpReply>> SendEarlyAsync(int port, string from, string id)
    {
        await using var c = await RawSmtpClient.ConnectAsync("127.0.0.1", port, from);
        try
        {
            await c.SendAsync(
                "EHLO early.client.test\r\n" +
                "MAIL FROM:<early@client.test>\r\n" +
                $"RCPT TO:<{PostfixFixture.Address(id)}>\r\n" +
                "DATA\r\n");
            var replies = new List<SmtpReply>();
            while (await c.ReadReplyAsync(TimeSpan.FromSeconds(20)) is { } reply)
            {
                replies.Add(reply);
                if (reply.Code == 354)
                {
                    await c.SendAsync($"Subject: {id}\r\nX-Marker: {id}\r\n\r\nearly body\r\n.\r\nQUIT\r\n");
                    replies.AddRange(await c.ReadRepliesUntilCloseAsync(TimeSpan.FromSeconds(20)));
                    break;
                }
            }

            return replies;
        }
        finally
        {
            output.WriteLine(c.Transcript);
        }
    }
}
