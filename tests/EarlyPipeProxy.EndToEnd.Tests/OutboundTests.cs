using EarlyPipeProxy.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace EarlyPipeProxy.EndToEnd.Tests;

/// <summary>
/// The outbound proxy: a strictly lockstep legacy sender (tests/peers/lockstep-send.py) hands its mail to an outbound
/// listener, and the proxy talks to the remote server the fastest way the remote allows. Every claim is proven from the
/// remote's side: Exim's "&lt;=" line says "L*" only when the client's EHLO, MAIL and RCPT arrived before its banner, and
/// "L." when the keyword was offered but the client waited (a learning session); what was delivered is read from the
/// remote's maildir, byte for byte, and the replies the sender saw are compared with the remote's own texts and ids.
/// The proxy's own session lines go to the test output only.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class OutboundTests(PostfixFixture postfix, ITestOutputHelper output)
{
    private const string RemoteDomain = "remote.test";

    /// <summary>a. Learn in a lockstep session, then early-pipeline the next connection; both messages intact.</summary>
    [SkippableFact]
    public async Task Outbound_first_connection_learns_in_lockstep_and_the_second_is_early_pipelined_at_Exim()
    {
        Peers.Require();
        await using var server = await EximServer.StartAsync("e2e-out-pc", new Dictionary<string, string> { ["EXIM_PIPE_CONNECT"] = "1" });
        await using var proxy = await ProxyProcess.StartOutboundAsync(output, Smarthost(server));
        var mark = server.Log.Mark();
        var id = Ids.New("out-pc");
        var rcpt = $"{id}@{RemoteDomain}";

        var run = await SendAsync(proxy, id, [rcpt], connections: 2);

        Assert.True(run.AllDelivered, "the lockstep sender did not get 250 for every message:\n" + run);
        var first = run.Connections[0].Messages.Single();
        var second = run.Connections[1].Messages.Single();
        var firstLine = await EximReceipts.WaitForReceivedLineAsync(server.Log, mark, first.MessageIdBare);
        var secondLine = await EximReceipts.WaitForReceivedLineAsync(server.Log, mark, second.MessageIdBare);
        DumpLogs(server, mark, proxy);
        Assert.True(
            EximReceipts.OfferedNotUsed(firstLine),
            "first connection: nothing cached yet, so Exim should see a lockstep client and log L. (offered, not used): " + firstLine);
        Assert.True(EximReceipts.EarlyPipelined(secondLine), "second connection: Exim should log L* (EHLO, MAIL, RCPT before its banner): " + secondLine);
        foreach (var connection in run.Connections)
        {
            Assert.Equal("250 Accepted", connection.Rcpt(rcpt).Reply);
        }

        await EximAssert.StoredOnceAsync(server, mark, first, rcpt);
        await EximAssert.StoredOnceAsync(server, mark, second, rcpt);
    }

    /// <summary>b. Postfix offers no PIPECONNECT: every session is a plain one, and Postfix never sees early input.</summary>
    [SkippableFact]
    public async Task Outbound_to_Postfix_without_the_keyword_stays_lockstep_and_delivers()
    {
        await postfix.EnsureStartedAsync();
        await using var proxy = await ProxyProcess.StartOutboundAsync(
            output, new OutboundListenerSpec("smarthost", $"127.0.0.1:{postfix.SmtpPort}") { TlsMode = "None" });
        var mark = postfix.Log.Mark();
        var id = Ids.New("out-pf");
        var rcpt = PostfixFixture.Address(id);

        // Three connections of two messages each: had the proxy wrongly cached an early-capable entry, the second and
        // third connections would send EHLO+MAIL before the greeting, which this Postfix refuses and logs.
        var run = await SendAsync(proxy, id, [rcpt], connections: 3, messages: 2);

        Assert.True(run.AllDelivered, "the lockstep sender did not get 250 for every message:\n" + run);
        await postfix.WaitForSessionsToEndAsync(mark, minSessions: 3);
        await postfix.SettleAsync();
        var log = postfix.Log.ReadSince(mark);
        output.WriteLine("--- Postfix log\n" + log + "\n--- proxy outbound lines\n" + string.Join('\n', proxy.OutboundSessionLines));
        postfix.AssertNoPipeliningViolations(mark);
        foreach (var message in run.Messages)
        {
            // The message leaves as BDAT (Postfix offers CHUNKING): its answer names the size, "Ok: 305 bytes queued as Q".
            var receipt = message.Reply is null ? null : System.Text.RegularExpressions.Regex.Match(message.Reply, @"^250 2\.0\.0 Ok: (?:\d+ bytes )?queued as (\w+)$");
            Assert.True(receipt is { Success: true }, $"{message.Id}: the end-of-data reply should be Postfix's own: {message.Reply}");
            var queueId = receipt!.Groups[1].Value;
            Assert.Contains($"{queueId}: message-id={message.MessageId}", log, StringComparison.Ordinal);
            var stored = postfix.Maildir.MessagesContaining(message.MessageId);
            Assert.True(stored.Count == 1, $"{message.Id}: expected exactly one delivered copy, found {stored.Count}");
            Assert.Equal(Messages.WithDotsBody, Maildir.Body(stored[0].Content));
        }

        // Postfix logs no L field; the proxy's line is only a second opinion here (the first is Postfix's silence above).
        Assert.DoesNotContain(proxy.OutboundSessionLines, l => l.Contains(" L*", StringComparison.Ordinal));
    }

    /// <summary>c. A 550 to one RCPT of an early flight reaches the sender verbatim, the other recipient still gets the mail, and the entry is flushed.</summary>
    [SkippableFact]
    public async Task Outbound_rejected_recipient_in_an_early_session_is_Exims_550_and_flushes_the_cache_entry()
    {
        Peers.Require();
        await using var server = await EximServer.StartAsync("e2e-out-rcpt", new Dictionary<string, string> { ["EXIM_REJECT_PREFIX"] = "reject" });
        await using var proxy = await ProxyProcess.StartOutboundAsync(output, Smarthost(server));
        var mark = server.Log.Mark();
        var id = Ids.New("out-rcpt");
        var ok1 = $"ok-1-{id}@{RemoteDomain}";
        var rejected = $"reject-2-{id}@{RemoteDomain}";
        var ok2 = $"ok-2-{id}@{RemoteDomain}";
        var ok3 = $"ok-3-{id}@{RemoteDomain}";

        var learn = await SendAsync(proxy, id + "-s1", [ok1]);
        // The refused recipient comes first, so its RCPT is the one in the early flight.
        var early = await SendAsync(proxy, id + "-s2", [rejected, ok2]);
        var after = await SendAsync(proxy, id + "-s3", [ok3]);
        DumpLogs(server, mark, proxy);

        Assert.True(learn.AllDelivered, learn.ToString());
        Assert.True(early.AllDelivered, "the good recipient's message should be accepted:\n" + early);
        Assert.True(after.AllDelivered, after.ToString());
        // Read before Exim is asked directly below, which makes it log the same refusal once more.
        Assert.Contains($"rejected RCPT <{rejected}>", server.Log.ReadSince(mark), StringComparison.Ordinal);
        var refusal = early.Connections[0].Rcpt(rejected);
        Assert.Equal(550, refusal.Code);
        Assert.Equal(await AskEximDirectlyAsync(server, id + "-direct", rejected), refusal.Reply);
        Assert.Equal("250 Accepted", early.Connections[0].Rcpt(ok2).Reply);

        var learnLine = await EximReceipts.WaitForReceivedLineAsync(server.Log, mark, Single(learn).MessageIdBare);
        var earlyLine = await EximReceipts.WaitForReceivedLineAsync(server.Log, mark, Single(early).MessageIdBare);
        var afterLine = await EximReceipts.WaitForReceivedLineAsync(server.Log, mark, Single(after).MessageIdBare);
        Assert.True(EximReceipts.OfferedNotUsed(learnLine), "learning session should be L. at Exim: " + learnLine);
        Assert.True(EximReceipts.EarlyPipelined(earlyLine), "second session should be early-pipelined (L*) at Exim: " + earlyLine);
        Assert.EndsWith($" for {ok2}", earlyLine, StringComparison.Ordinal);
        Assert.True(
            EximReceipts.OfferedNotUsed(afterLine),
            "the 550 in the early session should have flushed the cache entry, so the next session learns again (L., not L*): " + afterLine);

        await EximAssert.StoredOnceAsync(server, mark, Single(early), ok2);
        Assert.Empty(server.Maildir.MessagesContaining("Envelope-to: " + rejected));
        await EximAssert.StoredOnceAsync(server, mark, Single(after), ok3);
    }

    /// <summary>d. Exim refuses the sender: the lockstep sender sees Exim's own 550 (at MAIL, or at its first RCPT in early mode) and nothing is delivered.</summary>
    [SkippableFact]
    public async Task Outbound_rejected_sender_gets_Exims_own_refusal_and_nothing_is_delivered()
    {
        Peers.Require();
        await using var server = await EximServer.StartAsync("e2e-out-sender", new Dictionary<string, string> { ["EXIM_REJECT_SENDER_PREFIX"] = "badsender" });
        await using var proxy = await ProxyProcess.StartOutboundAsync(output, Smarthost(server));
        var mark = server.Log.Mark();
        var id = Ids.New("out-sender");
        var badSender = $"badsender-{id}@client.test";
        var ok1 = $"ok-1-{id}@{RemoteDomain}";
        var ok2 = $"ok-2-{id}@{RemoteDomain}";
        var ok3 = $"ok-3-{id}@{RemoteDomain}";

        var learn = await SendAsync(proxy, id + "-s1", [ok1]);
        var refused = await SendAsync(proxy, id + "-s2", [ok2], from: badSender);
        var after = await SendAsync(proxy, id + "-s3", [ok3]);
        DumpLogs(server, mark, proxy);

        Assert.True(learn.AllDelivered, learn.ToString());
        var learnLine = await EximReceipts.WaitForReceivedLineAsync(server.Log, mark, Single(learn).MessageIdBare);
        Assert.True(EximReceipts.OfferedNotUsed(learnLine), "learning session should be L. at Exim: " + learnLine);
        Assert.False(refused.AllDelivered, "a refused sender's message must not be reported delivered:\n" + refused);
        // Read before Exim is asked directly below, which makes it log the same refusal once more.
        Assert.Contains($"rejected MAIL <{badSender}>", server.Log.ReadSince(mark), StringComparison.Ordinal);
        var expected = await AskEximDirectlyAsync(server, id + "-direct", ok2, badSender);
        Assert.Contains("sender rejected by test policy", expected, StringComparison.Ordinal);
        var session = refused.Connections[0];
        var mail = session.Steps.Single(s => s.Command == $"MAIL FROM:<{badSender}>");
        if (mail.Code == 250)
        {
            // Early mode: the proxy answered MAIL itself, so the remote's refusal of MAIL must surface at the first RCPT.
            var rcpt = session.Rcpt(ok2);
            Assert.True(rcpt.Code == 550 && rcpt.Reply == expected, $"MAIL was answered 250 locally, so the first RCPT must carry Exim's refusal '{expected}':\n{session}");
        }
        else
        {
            Assert.True(mail.Code == 550 && mail.Reply == expected, $"MAIL should get Exim's own refusal '{expected}':\n{session}");
        }

        Assert.DoesNotContain(session.Steps, s => s.Command == "DATA" || s.Command == "<end-of-data>");
        Assert.Empty(EximReceipts.ReceivedLines(server.Log, mark, Single(refused).MessageIdBare));
        Assert.DoesNotContain(server.Log.LinesSince(mark), l => l.Contains(" <= " + badSender, StringComparison.Ordinal));

        // The proxy carries on: the next sender is delivered (lockstep or early, whichever the cache now says).
        Assert.True(after.AllDelivered, after.ToString());
        await EximAssert.StoredOnceAsync(server, mark, Single(learn), ok1);
        await EximAssert.StoredOnceAsync(server, mark, Single(after), ok3);
        Assert.Empty(server.Maildir.MessagesContaining("Envelope-to: " + ok2));
    }

    /// <summary>e. A 451 in an early session reaches the sender verbatim and flushes the entry: the next session learns again.</summary>
    [SkippableFact]
    public async Task Outbound_deferred_recipient_in_an_early_session_flushes_the_cache_entry()
    {
        Peers.Require();
        await using var server = await EximServer.StartAsync("e2e-out-defer", new Dictionary<string, string> { ["EXIM_DEFER_PREFIX"] = "defer" });
        await using var proxy = await ProxyProcess.StartOutboundAsync(output, Smarthost(server));
        var mark = server.Log.Mark();
        var id = Ids.New("out-defer");
        var ok1 = $"ok-1-{id}@{RemoteDomain}";
        var deferred = $"defer-2-{id}@{RemoteDomain}";
        var ok2 = $"ok-2-{id}@{RemoteDomain}";
        var ok3 = $"ok-3-{id}@{RemoteDomain}";

        var learn = await SendAsync(proxy, id + "-s1", [ok1]);
        var early = await SendAsync(proxy, id + "-s2", [deferred, ok2]);
        var after = await SendAsync(proxy, id + "-s3", [ok3]);
        DumpLogs(server, mark, proxy);

        Assert.True(learn.AllDelivered, learn.ToString());
        Assert.True(early.AllDelivered, "the good recipient's message should be accepted:\n" + early);
        Assert.True(after.AllDelivered, after.ToString());
        var deferral = early.Connections[0].Rcpt(deferred);
        Assert.Equal(451, deferral.Code);
        Assert.Equal(await AskEximDirectlyAsync(server, id + "-direct", deferred), deferral.Reply);

        var learnLine = await EximReceipts.WaitForReceivedLineAsync(server.Log, mark, Single(learn).MessageIdBare);
        var earlyLine = await EximReceipts.WaitForReceivedLineAsync(server.Log, mark, Single(early).MessageIdBare);
        var afterLine = await EximReceipts.WaitForReceivedLineAsync(server.Log, mark, Single(after).MessageIdBare);
        Assert.True(EximReceipts.OfferedNotUsed(learnLine), "learning session should be L. at Exim: " + learnLine);
        Assert.True(EximReceipts.EarlyPipelined(earlyLine), "second session should be early-pipelined (L*) at Exim: " + earlyLine);
        Assert.True(
            EximReceipts.OfferedNotUsed(afterLine),
            "the 451 in the early session should have flushed the cache entry, so the next session learns again (L., not L*): " + afterLine);

        await EximAssert.StoredOnceAsync(server, mark, Single(early), ok2);
        Assert.Empty(server.Maildir.MessagesContaining("Envelope-to: " + deferred));
        await EximAssert.StoredOnceAsync(server, mark, Single(after), ok3);
    }

    /// <summary>
    /// f. The remote drops the keyword after the proxy learnt it: the next session's early flight meets an Exim that does
    /// not allow it; whatever Exim does with it, the message arrives exactly once, and from then on the sessions are plain.
    /// </summary>
    [SkippableFact]
    public async Task Outbound_remote_that_dropped_the_keyword_still_gets_the_message_once_and_then_plain_sessions()
    {
        Peers.Require();
        await using var server = await EximServer.StartAsync("e2e-out-restart", new Dictionary<string, string> { ["EXIM_PIPE_CONNECT"] = "1" });
        await using var proxy = await ProxyProcess.StartOutboundAsync(output, Smarthost(server));
        var mark = server.Log.Mark();
        var id = Ids.New("out-drop");
        var ok1 = $"ok-1-{id}@{RemoteDomain}";
        var ok2 = $"ok-2-{id}@{RemoteDomain}";
        var ok3 = $"ok-3-{id}@{RemoteDomain}";

        var learn = await SendAsync(proxy, id + "-s1", [ok1]);
        Assert.True(learn.AllDelivered, learn.ToString());
        var learnLine = await EximReceipts.WaitForReceivedLineAsync(server.Log, mark, Single(learn).MessageIdBare);
        Assert.True(EximReceipts.OfferedNotUsed(learnLine), "learning session should be L. at Exim: " + learnLine);

        // Same address and port, PIPELINING still offered, PIPECONNECT not: the cached reply is now wrong.
        await server.RestartAsync(new Dictionary<string, string> { ["EXIM_PIPE_CONNECT"] = "0" });
        var restartMark = server.Log.Mark();
        var stale = await SendAsync(proxy, id + "-s2", [ok2]);
        var after = await SendAsync(proxy, id + "-s3", [ok3]);
        DumpLogs(server, mark, proxy);

        Assert.True(stale.AllDelivered, "the session after the keyword vanished must still deliver:\n" + stale);
        Assert.True(after.AllDelivered, after.ToString());
        await EximAssert.StoredOnceAsync(server, restartMark, Single(stale), ok2);
        await EximAssert.StoredOnceAsync(server, restartMark, Single(after), ok3);
        foreach (var line in server.Log.LinesSince(restartMark).Where(l => l.Contains(" <= ", StringComparison.Ordinal)))
        {
            Assert.False(EximReceipts.EarlyPipelined(line), "Exim no longer allows early pipelining, yet it logged L*: " + line);
            Assert.False(EximReceipts.OfferedNotUsed(line), "Exim no longer offers the keyword, yet it logged L.: " + line);
        }
    }

    /// <summary>g. The EHLO cache file outlives the proxy: a second proxy on the same file is early on its first session.</summary>
    [SkippableFact]
    public async Task Outbound_EHLO_cache_survives_a_proxy_restart()
    {
        Peers.Require();
        await using var server = await EximServer.StartAsync("e2e-out-persist", new Dictionary<string, string> { ["EXIM_PIPE_CONNECT"] = "1" });
        await using var first = await ProxyProcess.StartOutboundAsync(output, Smarthost(server));
        var mark = server.Log.Mark();
        var id = Ids.New("out-persist");
        var ok1 = $"ok-1-{id}@{RemoteDomain}";
        var ok2 = $"ok-2-{id}@{RemoteDomain}";

        var learn = await SendAsync(first, id + "-s1", [ok1]);
        Assert.True(learn.AllDelivered, learn.ToString());
        await first.StopAsync();
        var cacheFile = first.EhloCachePath!;
        Assert.True(File.Exists(cacheFile) && new FileInfo(cacheFile).Length > 0, "the stopped proxy left no EHLO cache file at " + cacheFile);

        await using var second = await ProxyProcess.StartOutboundAsync(output, cacheFile, Smarthost(server));
        var early = await SendAsync(second, id + "-s2", [ok2]);
        DumpLogs(server, mark, second);

        Assert.True(early.AllDelivered, early.ToString());
        var learnLine = await EximReceipts.WaitForReceivedLineAsync(server.Log, mark, Single(learn).MessageIdBare);
        var earlyLine = await EximReceipts.WaitForReceivedLineAsync(server.Log, mark, Single(early).MessageIdBare);
        Assert.True(EximReceipts.OfferedNotUsed(learnLine), "the first proxy's session should be L. at Exim: " + learnLine);
        Assert.True(EximReceipts.EarlyPipelined(earlyLine), "the restarted proxy's first session should be early (L*) from the cached file: " + earlyLine);
        await EximAssert.StoredOnceAsync(server, mark, Single(learn), ok1);
        await EximAssert.StoredOnceAsync(server, mark, Single(early), ok2);
    }

    private static OutboundListenerSpec Smarthost(EximServer server) =>
        new("smarthost", $"127.0.0.1:{server.Port}") { TlsMode = "None" };

    /// <summary>
    /// Exim's own reply, multi-line wrapping included, to MAIL FROM <paramref name="from"/> when Exim refuses it, else to
    /// RCPT TO <paramref name="recipient"/>: asked by the lockstep sender straight at Exim, not through the proxy. Only
    /// for refusals (nothing is delivered by the question).
    /// </summary>
    private async Task<string> AskEximDirectlyAsync(EximServer server, string idPrefix, string recipient, string from = "sender@client.test")
    {
        var direct = await LockstepSender.SendAsync(new LockstepSendOptions { Port = server.Port, To = [recipient], From = from, MessageIdPrefix = idPrefix });
        output.WriteLine("--- asked Exim directly\n" + direct);
        var session = direct.Connections.Single();
        Assert.False(direct.AllDelivered, "the direct question was meant to be refused:\n" + direct);
        var mail = session.Steps.Single(s => s.Command.StartsWith("MAIL FROM:", StringComparison.Ordinal));
        var answer = mail.Code == 250 ? session.Rcpt(recipient) : mail;
        Assert.True(answer.Code is >= 400 and < 600 && answer.Reply is not null, "Exim did not refuse the direct question:\n" + direct);
        return answer.Reply!;
    }

    private static LockstepMessageReport Single(LockstepSendResult run) => run.Connections.Single().Messages.Single();

    private async Task<LockstepSendResult> SendAsync(
        ProxyProcess proxy, string idPrefix, string[] to, int connections = 1, int messages = 1, string from = "sender@client.test")
    {
        var run = await LockstepSender.SendAsync(new LockstepSendOptions
        {
            Port = proxy.OutboundListeners.Single().ListenPort,
            To = to,
            From = from,
            Connections = connections,
            Messages = messages,
            MessageIdPrefix = idPrefix,
        });
        output.WriteLine(run.ToString());
        return run;
    }

    private void DumpLogs(EximServer server, long mark, ProxyProcess proxy) =>
        output.WriteLine($"--- Exim {server.Name} log\n{server.Log.ReadSince(mark)}\n--- proxy outbound lines\n{string.Join('\n', proxy.OutboundSessionLines)}");
}
