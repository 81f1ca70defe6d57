using EarlyPipeProxy.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace EarlyPipeProxy.EndToEnd.Tests;

/// <summary>Test 5: a client that dies in the middle of a message must not produce a (truncated) message.</summary>
[Collection(EndToEndCollection.Name)]
public sealed class AbortedClientTests(PostfixFixture postfix, ITestOutputHelper output)
{
    [SkippableTheory]
    [InlineData("DATA")]
    [InlineData("BDAT")]
    public async Task Client_reset_mid_message_delivers_nothing(string verb)
    {
        await postfix.EnsureStartedAsync();
        await using var proxy = await ProxyProcess.StartAsync(output, new ListenerSpec("smtp", postfix.SmtpPort, "Xclient"));
        var id = Ids.New("abort-" + verb.ToLowerInvariant());
        var mark = postfix.Log.Mark();
        var half = $"Subject: {id}\r\nX-Marker: {id}\r\n\r\n" + string.Concat(Enumerable.Repeat("half of a body that never ends\r\n", 50));

        var c = await RawSmtpClient.ConnectAsync("127.0.0.1", proxy["smtp"].ListenPort);
        try
        {
            await c.ExpectAsync(220);
            var ehlo = await c.CommandAsync("EHLO aborting.client.test", 250);
            await c.CommandAsync("MAIL FROM:<aborting@client.test>", 250);
            await c.CommandAsync($"RCPT TO:<{PostfixFixture.Address(id)}>", 250);
            if (verb == "DATA")
            {
                await c.CommandAsync("DATA", 354);
                await c.SendAsync(half);
            }
            else
            {
                Assert.Contains(ehlo.Lines, l => l.EndsWith("CHUNKING", StringComparison.Ordinal));
                await c.SendAsync($"BDAT {half.Length * 2} LAST\r\n" + half);
            }

            // let the half body travel through the proxy to Postfix before the client dies
            await Task.Delay(300);
            c.Reset();
        }
        finally
        {
            output.WriteLine(c.Transcript);
            await c.DisposeAsync();
        }

        var lost = await postfix.Log.WaitForLineAsync(mark, l => l.Contains("lost connection after", StringComparison.Ordinal), "Postfix's 'lost connection'");
        output.WriteLine(lost);
        await postfix.WaitForSessionsToEndAsync(mark);
        await postfix.SettleAsync();
        Assert.Empty(postfix.Maildir.MessagesContaining(id));
        Assert.DoesNotContain(postfix.Log.LinesSince(mark), l => l.Contains($"to=<{PostfixFixture.Address(id)}>", StringComparison.Ordinal));
    }
}
