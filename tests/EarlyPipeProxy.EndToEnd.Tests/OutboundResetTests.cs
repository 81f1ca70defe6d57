using EarlyPipeProxy.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace EarlyPipeProxy.EndToEnd.Tests;

/// <summary>
/// A sender that abandons a transaction with RSET and starts another (Postfix's address probes and connection reuse do)
/// through the outbound proxy to Exim: the remote's transaction follows the sender's, so exactly one message arrives,
/// for the second transaction's recipient. The first session learns (Exim logs L.), the second early-pipelines with
/// the first MAIL, RCPT and the RSET in its flight (L*).
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class OutboundResetTests(ITestOutputHelper output)
{
    [SkippableTheory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Outbound_MAIL_RCPT_RSET_then_a_new_transaction_delivers_once_to_the_second_recipient(bool pipelined)
    {
        Peers.Require();
        await using var exim = await EximServer.StartAsync(pipelined ? "e2e-out-rset-p" : "e2e-out-rset-l", new Dictionary<string, string> { ["EXIM_PIPE_CONNECT"] = "1" });
        await using var proxy = await ProxyProcess.StartOutboundAsync(output, new OutboundListenerSpec("smarthost", $"127.0.0.1:{exim.Port}") { TlsMode = "None" });
        var port = proxy.OutboundListeners.Single().ListenPort;
        var mark = exim.Log.Mark();
        var id = Ids.New(pipelined ? "rsetp" : "rsetl");

        var lines = new List<string>();
        for (var session = 1; session <= 2; session++)
        {
            var abandoned = $"{id}-{session}-abandoned@remote.test";
            var wanted = $"{id}-{session}-wanted@remote.test";
            await SessionAsync(port, pipelined, $"{id}-{session}", abandoned, wanted);
            lines.Add(await exim.Log.WaitForLineAsync(mark, l => l.Contains(" <= ", StringComparison.Ordinal) && l.Contains($"{id}-{session}-wanted@", StringComparison.Ordinal), "Exim's <= line of session " + session));
        }

        output.WriteLine($"--- Exim log\n{exim.Log.ReadSince(mark)}\n--- proxy outbound lines\n{string.Join('\n', proxy.OutboundSessionLines)}");
        Assert.True(EximReceipts.OfferedNotUsed(lines[0]), "the learning session: " + lines[0]);
        Assert.True(EximReceipts.EarlyPipelined(lines[1]), "the cached session early-pipelines (L*): " + lines[1]);
        var log = exim.Log.ReadSince(mark);
        // Exim logs a refused command with its reply ("... 503 sender already given"); a bare "503" would also match
        // a port number such as 45032.
        Assert.DoesNotMatch(@"(^|\s)503[ -]", log);
        Assert.DoesNotContain("already given", log, StringComparison.Ordinal);
        for (var session = 1; session <= 2; session++)
        {
            Assert.Single(log.Split('\n'), l => l.Contains(" <= ", StringComparison.Ordinal) && l.Contains($"{id}-{session}-", StringComparison.Ordinal));
            Assert.DoesNotContain($"{id}-{session}-abandoned@", string.Join('\n', log.Split('\n').Where(l => l.Contains(" <= ", StringComparison.Ordinal))), StringComparison.Ordinal);
            var n = session;
            await Poll.UntilAsync(() => exim.Maildir.MessagesContaining($"X-Reset-Id: {id}-{n}").Count == 1, "session " + n + "'s message delivered once");
            var stored = System.Text.Encoding.Latin1.GetString(exim.Maildir.MessagesContaining($"X-Reset-Id: {id}-{n}").Single().Content);
            Assert.Contains($"Envelope-to: {id}-{n}-wanted@remote.test", stored, StringComparison.Ordinal);
            Assert.DoesNotContain("abandoned", stored, StringComparison.Ordinal);
        }
    }

    /// <summary>EHLO; MAIL, RCPT, RSET; MAIL, RCPT, DATA, the message; QUIT. Grouped as a pipelining sender writes them, or one at a time.</summary>
    private async Task SessionAsync(int port, bool pipelined, string marker, string abandoned, string wanted)
    {
        await using var client = await RawSmtpClient.ConnectAsync("127.0.0.1", port);
        try
        {
            await client.ExpectAsync(220);
            await client.CommandAsync("EHLO legacy.sender.test", 250);
            string[] first = ["MAIL FROM:<sender@legacy.test>", $"RCPT TO:<{abandoned}>", "RSET"];
            string[] second = ["MAIL FROM:<sender@legacy.test>", $"RCPT TO:<{wanted}>", "DATA"];
            await GroupAsync(client, pipelined, first, [250, 250, 250]);
            await GroupAsync(client, pipelined, second, [250, 250, 354]);
            await client.SendAsync($"Subject: {marker}\r\nX-Reset-Id: {marker}\r\nTo: <{wanted}>\r\n\r\nAfter a RSET.\r\n.\r\n");
            await client.ExpectAsync(250);
            await client.CommandAsync("QUIT", 221);
        }
        finally
        {
            output.WriteLine(client.Transcript);
        }
    }

    private static async Task GroupAsync(RawSmtpClient client, bool pipelined, string[] commands, int[] codes)
    {
        if (pipelined)
        {
            await client.SendAsync(string.Concat(commands.Select(c => c + "\r\n")));
            foreach (var code in codes)
            {
                await client.ExpectAsync(code);
            }

            return;
        }

        for (var i = 0; i < commands.Length; i++)
        {
            await client.CommandAsync(commands[i], codes[i]);
        }
    }
}
