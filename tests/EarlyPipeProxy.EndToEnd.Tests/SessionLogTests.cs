using System.Text.RegularExpressions;
using EarlyPipeProxy.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace EarlyPipeProxy.EndToEnd.Tests;

/// <summary>
/// The proxy's log lets a message be followed into the server's: the session line's Q= is the queue id the server's
/// own log gives that message (Postfix's maillog inbound, Exim's mainlog outbound); and Trace:Clients logs a chosen
/// client's session command by command, each way, without its message body.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed partial class SessionLogTests(PostfixFixture postfix, ITestOutputHelper output)
{
    [SkippableFact]
    public async Task Inbound_session_line_names_Postfixs_queue_id_and_the_traced_client_is_logged_each_way()
    {
        await postfix.EnsureStartedAsync();
        await using var proxy = await ProxyProcess.StartAsync(output, new ListenerSpec("traced", postfix.SmtpPort) { TraceClients = ["127.0.0.1"] });
        var mark = postfix.Log.Mark();
        var id = Ids.New("qid");
        var messageId = $"<{id}@client.test>";
        var rcpt = PostfixFixture.Address(id);

        await using (var client = await RawSmtpClient.ConnectAsync("127.0.0.1", proxy["traced"].ListenPort))
        {
            await client.ExpectAsync(220);
            await client.CommandAsync("EHLO client.test", 250);
            await client.CommandAsync("MAIL FROM:<sender@client.test>", 250);
            await client.CommandAsync($"RCPT TO:<{rcpt}>", 250);
            await client.CommandAsync("DATA", 354);
            await client.CommandAsync($"Message-ID: {messageId}\r\nSubject: {id}\r\n\r\nsecret-body-{id}\r\n.", 250);
            await client.CommandAsync("QUIT", 221);
        }

        // The queue id as Postfix's own log gives it for this message (cleanup's "ID: message-id=<…>").
        await postfix.WaitForSessionsToEndAsync(mark);
        var cleanup = await postfix.Log.WaitForLineAsync(mark, l => l.Contains($": message-id={messageId}", StringComparison.Ordinal), "Postfix's message-id line");
        var queueId = QueueIdBeforeMessageId().Match(cleanup).Groups[1].Value;
        Assert.False(string.IsNullOrEmpty(queueId), cleanup);
        var session = await proxy.WaitForOutputAsync(l => l.Contains(" session H=[127.0.0.1]:", StringComparison.Ordinal), "the session line");
        output.WriteLine("--- Postfix log\n" + postfix.Log.ReadSince(mark) + "\n--- proxy\n" + string.Join('\n', proxy.OutputLines));
        Assert.Contains($" Q={queueId} ", session, StringComparison.Ordinal);

        // The trace: the same H= as the session line, each way, with Postfix's own words, and no body.
        var peer = Regex.Match(session, @" H=\[127\.0\.0\.1\]:\d+ ").Value.Trim();
        var trace = proxy.OutputLines.Where(l => l.Contains($"trace {peer} I=traced ", StringComparison.Ordinal))
            .Select(l => l[(l.IndexOf(" I=traced ", StringComparison.Ordinal) + " I=traced ".Length)..]).ToList();
        Assert.Contains("C>P MAIL FROM:<sender@client.test>", trace);
        Assert.Contains("P>B MAIL FROM:<sender@client.test>", trace);
        Assert.Contains("B>P 250 2.1.0 Ok", trace);
        Assert.Contains("P>C 250 2.1.0 Ok", trace);
        Assert.Contains(trace, l => l.StartsWith("P>B XCLIENT ", StringComparison.Ordinal));
        Assert.Contains(trace, l => l.StartsWith("C>P (message data: ", StringComparison.Ordinal));
        Assert.Contains(trace, l => l.StartsWith("P>B (message data: ", StringComparison.Ordinal));
        Assert.Contains($"B>P 250 2.0.0 Ok: queued as {queueId}", trace);
        Assert.Contains($"P>C 250 2.0.0 Ok: queued as {queueId}", trace);
        Assert.True(
            trace.IndexOf("C>P MAIL FROM:<sender@client.test>") < trace.IndexOf("P>B MAIL FROM:<sender@client.test>")
            && trace.IndexOf("P>B MAIL FROM:<sender@client.test>") < trace.IndexOf("B>P 250 2.1.0 Ok")
            && trace.IndexOf("B>P 250 2.1.0 Ok") < trace.IndexOf("P>C 250 2.1.0 Ok"),
            string.Join('\n', trace));
        Assert.DoesNotContain(proxy.OutputLines, l => l.Contains("secret-body-", StringComparison.Ordinal));
    }

    [SkippableFact]
    public async Task Outbound_session_line_names_the_id_Exim_gave_the_message()
    {
        Peers.Require();
        await using var server = await EximServer.StartAsync("e2e-out-qid", new Dictionary<string, string>());
        await using var proxy = await ProxyProcess.StartOutboundAsync(
            output, new OutboundListenerSpec("smarthost", $"127.0.0.1:{server.Port}") { TlsMode = "None", TraceClients = ["127.0.0.1"] });
        var mark = server.Log.Mark();
        var id = Ids.New("out-qid");

        var run = await LockstepSender.SendAsync(new LockstepSendOptions
        {
            Port = proxy.OutboundListeners.Single().ListenPort,
            To = [$"{id}@remote.test"],
            From = "sender@client.test",
            MessageIdPrefix = id,
        });
        output.WriteLine(run.ToString());
        Assert.True(run.AllDelivered, run.ToString());

        // Exim's id for the message, from its own "<=" line in the mainlog.
        var message = run.Connections.Single().Messages.Single();
        var received = await EximReceipts.WaitForReceivedLineAsync(server.Log, mark, message.MessageIdBare);
        var eximId = EximIdBeforeArrow().Match(received).Groups[1].Value;
        Assert.False(string.IsNullOrEmpty(eximId), received);
        var session = await proxy.WaitForOutputAsync(l => l.Contains(" outbound H=[127.0.0.1]:", StringComparison.Ordinal), "the outbound session line");
        output.WriteLine($"--- Exim log\n{server.Log.ReadSince(mark)}\n--- proxy\n{string.Join('\n', proxy.OutputLines)}");
        Assert.Contains($" Q={eximId} ", session, StringComparison.Ordinal);
        Assert.Contains(proxy.OutputLines, l => l.Contains(" U>P ", StringComparison.Ordinal) && l.Contains("id=" + eximId, StringComparison.Ordinal));
    }

    // cleanup's line: "… postfix-e2e/cleanup[123]: 4Xyz: message-id=<…>".
    [GeneratedRegex(@"\]: ([0-9A-Za-z]+): message-id=")]
    private static partial Regex QueueIdBeforeMessageId();

    // Exim's reception line: "2026-12-03 13:58:00[.123] 1abcDE-000123-XY <= sender …".
    [GeneratedRegex(@"^\S+ \S+ (\S+) <= ")]
    private static partial Regex EximIdBeforeArrow();
}
