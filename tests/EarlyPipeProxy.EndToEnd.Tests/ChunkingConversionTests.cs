using System.Text;
using EarlyPipeProxy.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace EarlyPipeProxy.EndToEnd.Tests;

/// <summary>
/// Issue 13, CHUNKING both ways with one BDAT-to-DATA converter. Inbound: an Exim client that uses BDAT (and early
/// pipelining) in front of a Postfix with CHUNKING switched off (smtpd_discard_ehlo_keywords = chunking): Exim logs L*
/// and K, Postfix logs data=1 and no bdat, and the message arrives byte for byte. Outbound: an Exim sender that uses
/// BDAT (the proxy offers it CHUNKING) to an Exim server with CHUNKING (received as BDAT, K on its "&lt;=" line) and to
/// that same Postfix (received as DATA, byte for byte). The body has dot lines, a long line and 8-bit octets.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class ChunkingConversionTests(ITestOutputHelper output)
{
    // Lines that need dot-stuffing as DATA, a 990-octet line, and Latin-1 8-bit octets (sent as they are).
    private static readonly string Body =
        "first line\n.starts with a dot\n..\n.\n. dot space\n" + new string('x', 990) + "\ncaf\u00e9 \u00fcber \u00ff\u00a0end\nlast line\n";

    private static byte[] Message(string marker) =>
        Encoding.Latin1.GetBytes($"From: sender@client.test\nSubject: {marker}\nX-Marker: {marker}\n\n" + Body);

    [SkippableFact]
    public async Task Inbound_BDAT_client_early_pipelined_in_front_of_Postfix_without_CHUNKING_arrives_byte_exact_as_DATA()
    {
        Peers.Require();
        await using var postfix = await PostfixWithoutChunking.StartAsync("nochunk-in");
        await using var proxy = await ProxyProcess.StartAsync(output, new ListenerSpec("smtp", postfix.Port, "Xclient"));
        var id = Ids.New("bdat2data-in");
        var mark = postfix.Log.Mark();
        var options = new EximSendOptions { ToPort = proxy["smtp"].ListenPort, Chunking = true, ResetCache = true };

        var first = await EximClient.SendAsync(options, Message(id + "-1"), PostfixFixture.Address(id + "-1"));
        output.WriteLine(first.ToString());
        var second = await EximClient.SendAsync(options with { ResetCache = false }, Message(id + "-2"), PostfixFixture.Address(id + "-2"));
        output.WriteLine(second.ToString());

        Assert.True(first.Delivered, "first message not delivered:\n" + first);
        Assert.True(second.Delivered, "second message not delivered:\n" + second);
        Assert.True(second.EarlyPipelined, "second connection should be early-pipelined ('L*'):\n" + second);
        Assert.True(first.DeliveryLines.Concat(second.DeliveryLines).All(l => l.Contains(" K ", StringComparison.Ordinal)),
            "the Exim client should have used CHUNKING (K) both times:\n" + first + second);
        foreach (var n in new[] { "-1", "-2" })
        {
            var stored = await postfix.Maildir.WaitForMessageAsync("X-Marker: " + id + n);
            Assert.Equal(Body, Maildir.Body(stored));
        }

        var disconnects = await postfix.DisconnectLinesAsync(mark, 2);
        output.WriteLine(string.Join('\n', disconnects));
        Assert.All(disconnects, l => Assert.Contains(" data=1 ", l, StringComparison.Ordinal));
        Assert.All(disconnects, l => Assert.DoesNotContain("bdat", l, StringComparison.Ordinal));
        output.WriteLine("proxy: " + await proxy.WaitForEarlySessionLineAsync());
    }

    [SkippableFact]
    public async Task Outbound_BDAT_sender_relayed_as_BDAT_to_Exim_with_CHUNKING_and_as_DATA_to_Postfix_without()
    {
        Peers.Require();
        await using var postfix = await PostfixWithoutChunking.StartAsync("nochunk-out");
        await using var exim = await EximServer.StartAsync("e2e-chunk-out", new Dictionary<string, string>());
        var toExim = new OutboundListenerSpec("toexim", $"127.0.0.1:{exim.Port}") { TlsMode = "None" };
        var toPostfix = new OutboundListenerSpec("topostfix", $"127.0.0.1:{postfix.Port}") { TlsMode = "None" };
        await using var proxy = await ProxyProcess.StartOutboundAsync(output, toExim, toPostfix);
        var id = Ids.New("bdat2data-out");

        // To Exim: BDAT all the way, K on the sender's "=>" line and on the server's "<=" line.
        var eximMark = exim.Log.Mark();
        var viaExim = await EximClient.SendAsync(new EximSendOptions { ToPort = toExim.ListenPort, ResetCache = true, PipeConnect = false },
            Message(id + "-x"), $"{id}-x@exim.test");
        output.WriteLine(viaExim.ToString());
        Assert.True(viaExim.Delivered, "not delivered through the proxy to Exim:\n" + viaExim);
        Assert.True(viaExim.DeliveryLines.All(l => l.Contains(" K ", StringComparison.Ordinal)), "the sender should have used BDAT (K):\n" + viaExim);
        var received = await exim.Log.WaitForLineAsync(eximMark, l => l.Contains(" <= ", StringComparison.Ordinal), "Exim's <= line");
        output.WriteLine(received);
        Assert.Contains(" K ", received, StringComparison.Ordinal);
        Assert.Equal(Body, Maildir.Body(await exim.Maildir.WaitForMessageAsync("X-Marker: " + id + "-x")));

        // To Postfix without CHUNKING: the same BDAT sender, received as DATA, byte for byte.
        var postfixMark = postfix.Log.Mark();
        var viaPostfix = await EximClient.SendAsync(new EximSendOptions { ToPort = toPostfix.ListenPort, ResetCache = true, PipeConnect = false },
            Message(id + "-p"), PostfixFixture.Address(id + "-p"));
        output.WriteLine(viaPostfix.ToString());
        Assert.True(viaPostfix.Delivered, "not delivered through the proxy to Postfix:\n" + viaPostfix);
        Assert.True(viaPostfix.DeliveryLines.All(l => l.Contains(" K ", StringComparison.Ordinal)), "the sender should have used BDAT (K):\n" + viaPostfix);
        Assert.Equal(Body, Maildir.Body(await postfix.Maildir.WaitForMessageAsync("X-Marker: " + id + "-p")));
        var disconnects = await postfix.DisconnectLinesAsync(postfixMark, 1);
        output.WriteLine(string.Join('\n', disconnects));
        Assert.All(disconnects, l => Assert.Contains(" data=1 ", l, StringComparison.Ordinal));
        Assert.All(disconnects, l => Assert.DoesNotContain("bdat", l, StringComparison.Ordinal));
    }
}
