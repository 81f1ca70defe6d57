using EarlyPipeProxy.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace EarlyPipeProxy.EndToEnd.Tests;

/// <summary>
/// The peers on their own, without the proxy: if these fail, the proxy tests cannot say anything.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class HarnessSelfTests(PostfixFixture postfix, ITestOutputHelper output)
{
    [SkippableFact]
    public async Task Exim_client_delivers_to_Postfix_directly_and_Postfix_keeps_the_body()
    {
        await postfix.EnsureStartedAsync();
        var id = Ids.New("self-pf");
        var message = Messages.WithDots(id);
        var mark = postfix.Log.Mark();

        var result = await EximClient.SendAsync(new EximSendOptions { ToPort = postfix.SmtpPort, ResetCache = true }, message, PostfixFixture.Address(id));
        output.WriteLine(result.ToString());

        Assert.True(result.Delivered, result.ToString());
        Assert.True(result.PlainPipelined, "Postfix offers PIPELINING but not PIPECONNECT: expected L without *\n" + result);
        var stored = await postfix.Maildir.WaitForMessageAsync(id);
        Assert.Equal(Messages.WithDotsBody, Maildir.Body(stored));
        postfix.AssertNoPipeliningViolations(mark);
    }

    [SkippableFact]
    public async Task Exim_client_early_pipelines_to_an_Exim_server_on_the_second_connection()
    {
        await postfix.EnsureStartedAsync();
        await using var server = await EximServer.StartAsync("e2e-self", new Dictionary<string, string>());
        var id = Ids.New("self-ex");
        var options = new EximSendOptions { ToPort = server.Port, ResetCache = true };

        var first = await EximClient.SendAsync(options, Messages.Simple(id + "-1"), $"{id}-1@exim.test");
        var second = await EximClient.SendAsync(options with { ResetCache = false }, Messages.Simple(id + "-2"), $"{id}-2@exim.test");
        output.WriteLine(first + "\n" + second);

        Assert.True(first.Delivered && first.PlainPipelined, first.ToString());
        Assert.True(second.Delivered && second.EarlyPipelined, second.ToString());
        await server.Maildir.WaitForMessageAsync(id + "-2");
        await server.Log.WaitForLineAsync(0, l => l.Contains(" <= ", StringComparison.Ordinal) && l.Contains(" L* ", StringComparison.Ordinal), "server-side L*");
    }

    [SkippableFact]
    public async Task Postfix_refuses_relaying_for_hosts_outside_mynetworks_but_not_for_127_0_0_1()
    {
        await postfix.EnsureStartedAsync();
        var id = Ids.New("self-relay");

        await using (var outsider = await RawSmtpClient.ConnectAsync("127.0.0.1", postfix.SmtpPort, "127.0.0.3"))
        {
            await outsider.ExpectAsync(220);
            await outsider.CommandAsync("EHLO outsider.test", 250);
            await outsider.CommandAsync("MAIL FROM:<a@outsider.test>", 250);
            var reply = await outsider.CommandAsync($"RCPT TO:<{id}@elsewhere.test>", 554);
            Assert.Contains("Relay access denied", reply.Text, StringComparison.Ordinal);
        }

        await using (var insider = await RawSmtpClient.ConnectAsync("127.0.0.1", postfix.SmtpPort))
        {
            await insider.ExpectAsync(220);
            await insider.CommandAsync("EHLO insider.test", 250);
            await insider.CommandAsync("MAIL FROM:<a@insider.test>", 250);
            var reply = await insider.CommandAsync($"RCPT TO:<{id}@elsewhere.test>", 550);
            Assert.Contains("relays nothing", reply.Text, StringComparison.Ordinal);
        }
    }

    [SkippableFact]
    public async Task Postfix_rejects_commands_pipelined_with_an_early_EHLO()
    {
        await postfix.EnsureStartedAsync();
        var mark = postfix.Log.Mark();
        // Postfix 3.7.11 answers a lone early EHLO normally; only commands pipelined behind it before
        // PIPELINING was offered are refused ("improper command pipelining after EHLO").
        await using var c = await RawSmtpClient.ConnectAsync("127.0.0.1", postfix.SmtpPort);
        await c.SendAsync("EHLO early.test\r\nMAIL FROM:<a@early.test>\r\n");
        var replies = await c.ReadRepliesUntilCloseAsync(TimeSpan.FromSeconds(10));
        output.WriteLine(c.Transcript);
        await postfix.Log.WaitForLineAsync(mark, l => l.Contains("improper command pipelining", StringComparison.Ordinal), "Postfix's smtpd_forbid_unauth_pipelining check");
        Assert.Contains(replies, r => r.Code == 554);
    }
}
