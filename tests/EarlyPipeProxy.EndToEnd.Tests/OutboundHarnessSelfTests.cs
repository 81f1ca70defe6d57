using EarlyPipeProxy.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace EarlyPipeProxy.EndToEnd.Tests;

/// <summary>
/// The outbound tests' harness without the proxy: lockstep-send.py straight to Exim and Postfix, the exim.sh policies the
/// outbound tests rely on (refused recipient, deferred recipient, refused sender), and the reading of Exim's L field on a
/// real early-pipelined session. If these fail, OutboundTests cannot say anything about the proxy.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class OutboundHarnessSelfTests(PostfixFixture postfix, ITestOutputHelper output)
{
    [SkippableFact]
    public async Task Lockstep_sender_to_Exim_directly_reports_every_reply_and_Exim_sees_a_client_that_never_pipelines()
    {
        Peers.Require();
        await using var server = await EximServer.StartAsync("e2e-out-self", new Dictionary<string, string>
        {
            ["EXIM_REJECT_PREFIX"] = "reject",
            ["EXIM_DEFER_PREFIX"] = "defer",
            ["EXIM_REJECT_SENDER_PREFIX"] = "badsender",
        });
        var mark = server.Log.Mark();
        var id = Ids.New("self-lockstep");
        var ok = $"ok-{id}@remote.test";
        var rejected = $"reject-{id}@remote.test";
        var deferred = $"defer-{id}@remote.test";

        var run = await LockstepSender.SendAsync(new LockstepSendOptions
        {
            Port = server.Port,
            To = [rejected, ok, deferred],
            MessageIdPrefix = id,
            Connections = 2,
            Messages = 2,
        });
        output.WriteLine(run.ToString());

        Assert.True(run.AllDelivered, run.ToString());
        foreach (var connection in run.Connections)
        {
            Assert.Equal(["<banner>", "EHLO legacy.client.test"], connection.Steps.Take(2).Select(s => s.Command));
            Assert.Equal("QUIT", connection.Steps[^1].Command);
            Assert.True(connection.TotalMs > 0 && connection.Steps.All(s => s.Ms >= 0), connection.ToString());
            // Exim wraps a long reply over several lines, so only the pieces are checked here.
            AssertReply(connection.Rcpt(rejected), 550, "5.1.1", rejected, "rejected by test policy");
            AssertReply(connection.Rcpt(deferred), 451, "4.3.0", deferred, "deferred by test policy");
            Assert.Equal(2, connection.Steps.Count(s => s.Command == "<end-of-data>"));
            Assert.DoesNotContain(connection.Steps, s => s.Command == "RSET");
        }

        output.WriteLine("--- Exim log\n" + server.Log.ReadSince(mark));
        foreach (var message in run.Messages)
        {
            await EximAssert.StoredOnceAsync(server, mark, message, ok);
            var line = EximReceipts.ReceivedLines(server.Log, mark, message.MessageIdBare).Single();
            // L.- : PIPECONNECT offered but not used, PIPELINING offered but not used: the sender is strictly lockstep.
            Assert.Equal("L.-", EximReceipts.PipeliningField(line));
        }

        var badSender = $"badsender-{id}@client.test";
        var refused = await LockstepSender.SendAsync(new LockstepSendOptions { Port = server.Port, To = [ok], From = badSender, MessageIdPrefix = id + "-bad" });
        output.WriteLine(refused.ToString());
        Assert.False(refused.AllDelivered);
        var session = refused.Connections.Single();
        Assert.Null(session.Error);
        AssertReply(session.Steps.Single(s => s.Command == $"MAIL FROM:<{badSender}>"), 550, "5.7.1", badSender, "sender rejected by test policy");
        Assert.Equal(550, session.Messages.Single().Code);
        Assert.Equal("QUIT", session.Steps[^1].Command);
        Assert.DoesNotContain(session.Steps, s => s.Command.StartsWith("RCPT", StringComparison.Ordinal) || s.Command == "DATA");
    }

    private static void AssertReply(LockstepStep step, int code, string enhanced, string address, string text)
    {
        Assert.True(
            step.Code == code && step.Reply is { } r && r.Contains($"{code}", StringComparison.Ordinal) && r.Contains(enhanced, StringComparison.Ordinal)
                && r.Contains($"<{address}>", StringComparison.Ordinal) && r.EndsWith(text, StringComparison.Ordinal),
            $"expected {code} {enhanced} <{address}> ... {text}, got: {step}");
    }

    [SkippableFact]
    public async Task Lockstep_sender_to_Postfix_directly_delivers_intact_without_pipelining_violations()
    {
        await postfix.EnsureStartedAsync();
        var mark = postfix.Log.Mark();
        var id = Ids.New("self-lockstep-pf");

        var run = await LockstepSender.SendAsync(new LockstepSendOptions
        {
            Port = postfix.SmtpPort,
            To = [PostfixFixture.Address(id), $"{id}@elsewhere.test"],
            MessageIdPrefix = id,
            Messages = 2,
        });
        output.WriteLine(run.ToString());

        Assert.True(run.AllDelivered, run.ToString());
        Assert.Equal(550, run.Connections[0].Rcpt($"{id}@elsewhere.test").Code);
        foreach (var message in run.Messages)
        {
            var stored = await postfix.Maildir.WaitForMessageAsync(message.MessageId);
            Assert.Equal(Messages.WithDotsBody, Maildir.Body(stored));
        }

        await postfix.WaitForSessionsToEndAsync(mark);
        postfix.AssertNoPipeliningViolations(mark);
    }

    [SkippableFact]
    public async Task Exims_L_field_reads_L_star_for_an_early_pipelining_Exim_client()
    {
        Peers.Require();
        await using var server = await EximServer.StartAsync("e2e-out-self-early", new Dictionary<string, string>());
        var mark = server.Log.Mark();
        var id = Ids.New("self-lfield");
        var options = new EximSendOptions { ClientName = "e2e-out-self-client", ToPort = server.Port, ResetCache = true };
        string Message(string n) => $"Message-ID: <{id}-{n}@lockstep.test>\n" + Messages.Simple(id + "-" + n);

        var first = await EximClient.SendAsync(options, Message("1"), $"{id}-1@remote.test");
        var second = await EximClient.SendAsync(options with { ResetCache = false }, Message("2"), $"{id}-2@remote.test");
        output.WriteLine(first + "\n" + second);

        Assert.True(first.Delivered && second.Delivered, first + "\n" + second);
        var firstLine = await EximReceipts.WaitForReceivedLineAsync(server.Log, mark, $"{id}-1@lockstep.test");
        var secondLine = await EximReceipts.WaitForReceivedLineAsync(server.Log, mark, $"{id}-2@lockstep.test");
        Assert.True(EximReceipts.OfferedNotUsed(firstLine) && !EximReceipts.EarlyPipelined(firstLine), firstLine);
        Assert.True(EximReceipts.EarlyPipelined(secondLine) && !EximReceipts.OfferedNotUsed(secondLine), secondLine);
    }
}
