using System.Text.RegularExpressions;
using EarlyPipeProxy.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace EarlyPipeProxy.EndToEnd.Tests;

/// <summary>
/// Replies that the proxy's own early input caused are not the sender's verdict. An Exim that no longer offers
/// PIPECONNECT (nor PIPELINING) but still lists the proxy in pipelining_connect_advertise_hosts takes the early flight
/// and answers it with 250s (Exim relaxes its sync checks for those hosts until DATA); the proxy must not relay them:
/// it ends that connection with QUIT, before any DATA, and redoes the session in lockstep on a new one, so the message
/// is received once, on the second connection, and the next session is lockstep from the start.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed partial class OutboundFlightVerdictTests(ITestOutputHelper output)
{
    private const string RemoteDomain = "remote.test";

    // The sender's EHLO name, which the proxy says EHLO with toward the remote too: it tells the sender's connections
    // at Exim from the proxy's health probes.
    private const string LockstepSenderName = "legacy.client.test";

    [SkippableFact]
    public async Task Outbound_flight_to_an_Exim_that_withdrew_the_keyword_is_quit_and_the_message_goes_once_in_lockstep()
    {
        Peers.Require();
        await using var server = await EximServer.StartAsync("e2e-out-verdict", new Dictionary<string, string> { ["EXIM_PIPE_CONNECT"] = "1" });
        await using var proxy = await ProxyProcess.StartOutboundAsync(output, new OutboundListenerSpec("smarthost", $"127.0.0.1:{server.Port}") { TlsMode = "None" });
        var mark = server.Log.Mark();
        var id = Ids.New("out-verdict");
        var ok1 = $"ok-1-{id}@{RemoteDomain}";
        var ok2 = $"ok-2-{id}@{RemoteDomain}";
        var ok3 = $"ok-3-{id}@{RemoteDomain}";

        // The first session learns Exim's EHLO reply, PIPECONNECT included.
        var learn = await SendAsync(proxy, id + "-s1", ok1);
        Assert.True(learn.AllDelivered, learn.ToString());
        var learnLine = await EximReceipts.WaitForReceivedLineAsync(server.Log, mark, Single(learn).MessageIdBare);
        Assert.True(EximReceipts.OfferedNotUsed(learnLine), "learning session should be L. at Exim: " + learnLine);

        // Same address and port; neither PIPELINING nor PIPECONNECT offered, early input still taken from everyone.
        await server.RestartAsync(new Dictionary<string, string> { ["EXIM_PIPELINING"] = "0", ["EXIM_PIPE_CONNECT"] = "1" });
        var staleMark = server.Log.Mark();
        var stale = await SendAsync(proxy, id + "-s2", ok2);
        var afterMark = server.Log.Mark();
        var after = await SendAsync(proxy, id + "-s3", ok3);
        output.WriteLine($"--- Exim log\n{server.Log.ReadSince(mark)}\n--- proxy outbound lines\n{string.Join('\n', proxy.OutboundSessionLines)}");

        // The sender got 250 for everything, and the message arrived exactly once.
        Assert.True(stale.AllDelivered, "the session after the keyword vanished must deliver:\n" + stale);
        Assert.Equal("250 Accepted", stale.Connections.Single().Rcpt(ok2).Reply);
        Assert.True(after.AllDelivered, after.ToString());
        await EximAssert.StoredOnceAsync(server, staleMark, Single(stale), ok2);
        await EximAssert.StoredOnceAsync(server, staleMark, Single(after), ok3);

        // Exim's side of the stale session: two connections that said EHLO with the sender's name (the proxy's health
        // probes are not among them); the first (the early flight) ends with QUIT and no message, the message comes
        // on the second.
        var flightAndRedo = await SenderConnectionsAsync(server, staleMark, afterMark, atLeast: 2);
        Assert.True(flightAndRedo.Length == 2, "the stale session should reach Exim twice (the flight, then the lockstep redo): " + string.Join(", ", flightAndRedo));
        var received = await EximReceipts.WaitForReceivedLineAsync(server.Log, staleMark, Single(stale).MessageIdBare);
        Assert.Contains($"[127.0.0.1]:{flightAndRedo[1]} ", received, StringComparison.Ordinal);
        Assert.DoesNotContain(server.Log.LinesSince(staleMark), l => l.Contains(" <= ", StringComparison.Ordinal) && l.Contains($"]:{flightAndRedo[0]} ", StringComparison.Ordinal));

        // The proxy says why it redid the session; the following session is lockstep from the start: one connection
        // at Exim, no early flight (no L*), nothing redone.
        Assert.Contains(proxy.OutputLines, l => l.Contains("redone in lockstep: keyword withdrawn", StringComparison.Ordinal));
        Assert.Single(await SenderConnectionsAsync(server, afterMark, server.Log.Mark(), atLeast: 1));
        var sessions = await Poll.UntilAsync(
            () => proxy.OutboundSessionLines.Where(l => l.Contains(" end=", StringComparison.Ordinal)).ToArray() is { Length: 3 } lines ? lines : null,
            "the proxy's three outbound session lines");
        var redone = Assert.Single(sessions, l => l.Contains("redo=", StringComparison.Ordinal));
        Assert.Contains("redo=\"keyword withdrawn\"", redone, StringComparison.Ordinal);
        Assert.Equal(redone, Assert.Single(sessions, l => l.Contains(" L*", StringComparison.Ordinal)));
    }

    /// <summary>
    /// The client ports of the connections Exim accepted between two marks that said EHLO with the lockstep sender's
    /// name and ended with QUIT, in the order they were accepted; waits until there are <paramref name="atLeast"/>
    /// (the closing line of a connection may be written after the sender is done).
    /// </summary>
    private static async Task<string[]> SenderConnectionsAsync(EximServer server, long from, long to, int atLeast)
    {
        var started = LinesBetween(server, from, to).Select(l => ConnectionStart().Match(l)).Where(m => m.Success).Select(m => m.Groups["port"].Value).ToArray();
        string[] Closed() => started.Where(port => server.Log.LinesSince(from).Any(l =>
            l.Contains($"SMTP connection from ({LockstepSenderName}) [127.0.0.1]:{port} closed by QUIT", StringComparison.Ordinal))).ToArray();
        try
        {
            return await Poll.UntilAsync(() => Closed() is { } ports && ports.Length >= atLeast ? ports : null, $"{atLeast} sender connection(s) closed by QUIT at Exim");
        }
        catch (TimeoutException)
        {
            return Closed();
        }
    }

    private static string[] LinesBetween(EximServer server, long from, long to) =>
        server.Log.ReadSince(from)[..(int)Math.Max(0, to - from)].Split('\n', StringSplitOptions.RemoveEmptyEntries);

    private static LockstepMessageReport Single(LockstepSendResult run) => run.Connections.Single().Messages.Single();

    private async Task<LockstepSendResult> SendAsync(ProxyProcess proxy, string idPrefix, string to)
    {
        var run = await LockstepSender.SendAsync(new LockstepSendOptions
        {
            Port = proxy.OutboundListeners.Single().ListenPort,
            To = [to],
            MessageIdPrefix = idPrefix,
            Helo = LockstepSenderName,
        });
        output.WriteLine(run.ToString());
        return run;
    }

    [GeneratedRegex(@"SMTP connection from \[127\.0\.0\.1\]:(?<port>\d+) \(TCP/IP connection count")]
    private static partial Regex ConnectionStart();
}
