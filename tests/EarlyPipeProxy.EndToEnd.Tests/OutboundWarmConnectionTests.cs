using System.Text.RegularExpressions;
using EarlyPipeProxy.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace EarlyPipeProxy.EndToEnd.Tests;

/// <summary>
/// Warm connections (ConnectionCache) against a real Exim 4.96: a lockstep sender's sessions in a row share one remote
/// connection (after the one that learnt the EHLO reply: to a remote that takes early flights, each connection opens
/// with one), and a connection Exim closed while it was parked costs nothing but a fresh connection. Proven from
/// Exim's log (log_selector +smtp_connection +incoming_port): each connection it accepts is one "SMTP connection from"
/// line, and each "&lt;=" line names the client port of the connection that carried the message.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed partial class OutboundWarmConnectionTests(ITestOutputHelper output)
{
    private const string RemoteDomain = "remote.test";

    [SkippableFact]
    public async Task Lockstep_sessions_in_a_row_after_the_learning_one_go_over_one_early_connection_to_Exim()
    {
        Peers.Require();
        await using var server = await EximServer.StartAsync("e2e-warm", new Dictionary<string, string> { ["EXIM_PIPE_CONNECT"] = "1" });
        // With a control socket: `earlypipe status` tells the operator what is parked.
        await using var proxy = await ProxyProcess.StartAsync(output, [], [Smarthost(server)], ehloCachePath: null,
            new Dictionary<string, object> { ["Control"] = new { SocketPath = "control.sock" } });
        var mark = server.Log.Mark();
        var id = Ids.New("warm");
        var rcpt = $"{id}@{RemoteDomain}";

        var run = await SendAsync(proxy, id, rcpt, connections: 3);

        // The first session learns Exim's EHLO reply in lockstep and ends with QUIT; the second pipelines early and is
        // parked; the third goes over the second's connection, which Exim still logs as early pipelined (L*).
        Assert.True(run.AllDelivered, "the lockstep sender did not get 250 for every message:\n" + run);
        var messages = run.Connections.Select(c => c.Messages.Single()).ToList();
        var received = new List<string>();
        foreach (var message in messages)
        {
            received.Add(await EximReceipts.WaitForReceivedLineAsync(server.Log, mark, message.MessageIdBare));
        }

        DumpLogs(server, mark, proxy);
        Assert.NotEqual(ClientPort(received[0]), ClientPort(received[1]));
        Assert.Equal(ClientPort(received[1]), ClientPort(received[2]));
        Assert.Equal(2, ConnectionsAccepted(server, mark).Count);
        Assert.DoesNotContain(" L* ", received[0], StringComparison.Ordinal);
        Assert.Contains(" L* ", received[1], StringComparison.Ordinal);
        Assert.Contains(" L* ", received[2], StringComparison.Ordinal);
        foreach (var message in messages)
        {
            await EximAssert.StoredOnceAsync(server, mark, message, rcpt);
        }

        // Each proxy session line found by the queue id Exim gave its message (the lines come as sessions end).
        var lines = await Poll.UntilAsync(() => received.Select(r => r.Split(' ')[2])
            .Select(queueId => proxy.OutboundSessionLines.FirstOrDefault(l => l.Contains(" Q=" + queueId + " ", StringComparison.Ordinal)))
            .ToList() is var found && found.All(l => l is not null) ? found : null, "the proxy's three outbound session lines");
        Assert.DoesNotContain(" W=", lines[0], StringComparison.Ordinal);
        Assert.Contains(" L* W=parked ", lines[1], StringComparison.Ordinal);
        Assert.Contains(" W=reused+parked ", lines[2], StringComparison.Ordinal);

        // The third session parked the connection again: one is there, with the cache's defaults as its bounds.
        var status = await Poll.UntilAsync(() =>
        {
            var run = EarlypipeCommand.RunAsync(output, ["status", "--config", proxy.ConfigPath]).GetAwaiter().GetResult();
            Assert.Equal(0, run.Exit);
            return run.Out.Contains("\n  warm         1 parked,", StringComparison.Ordinal) ? run.Out : null;
        }, "earlypipe status to show the parked connection");
        Assert.Contains("\n  warm         1 parked, max 100 (4 per remote), idle 30s, 10 messages or 5m per connection\n", status, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task A_connection_Exim_closes_while_parked_is_dropped_and_the_next_message_arrives_exactly_once()
    {
        // Exim's smtp_receive_timeout, short: idle after the RSET's answer, it says 421 and closes; the proxy's own idle
        // limit is far longer, so only the watch of the parked connection can notice.
        Peers.Require();
        await using var server = await EximServer.StartAsync("e2e-warm-stale",
            new Dictionary<string, string> { ["EXIM_PIPE_CONNECT"] = "1", ["EXIM_RECEIVE_TIMEOUT"] = "2s" });
        await using var proxy = await ProxyProcess.StartOutboundAsync(output, Smarthost(server) with { ConnectionCacheIdleTimeout = "5m" });
        var mark = server.Log.Mark();
        var id = Ids.New("warm-stale");
        var rcpt = $"{id}@{RemoteDomain}";

        // The learning session ends with QUIT; the second, early, is parked.
        var before = await SendAsync(proxy, id + "-1", rcpt, connections: 2);
        await proxy.WaitForOutputAsync(
            l => l.Contains("dropped: the remote said 421 while parked", StringComparison.Ordinal), "the parked connection dropped at Exim's 421");
        var after = await SendAsync(proxy, id + "-2", rcpt);

        Assert.True(before.AllDelivered, before.ToString());
        Assert.True(after.AllDelivered, after.ToString());
        var first = before.Connections[1].Messages.Single();
        var second = after.Messages.Single();
        var firstLine = await EximReceipts.WaitForReceivedLineAsync(server.Log, mark, first.MessageIdBare);
        var secondLine = await EximReceipts.WaitForReceivedLineAsync(server.Log, mark, second.MessageIdBare);
        DumpLogs(server, mark, proxy);
        Assert.Contains("SMTP command timeout", server.Log.ReadSince(mark), StringComparison.Ordinal);
        Assert.NotEqual(ClientPort(firstLine), ClientPort(secondLine));
        Assert.Equal(3, ConnectionsAccepted(server, mark).Count);
        await EximAssert.StoredOnceAsync(server, mark, before.Connections[0].Messages.Single(), rcpt);
        await EximAssert.StoredOnceAsync(server, mark, first, rcpt);
        await EximAssert.StoredOnceAsync(server, mark, second, rcpt);
        Assert.DoesNotContain(proxy.OutboundSessionLines, l => l.Contains("reused", StringComparison.Ordinal));
    }

    private static OutboundListenerSpec Smarthost(EximServer server) =>
        new("smarthost", $"127.0.0.1:{server.Port}") { TlsMode = "None", ConnectionCache = true };

    /// <summary>The client port in an Exim "&lt;=" line's host field, "H=(name) [127.0.0.1]:PORT".</summary>
    private static string ClientPort(string receivedLine)
    {
        var match = HostField().Match(receivedLine);
        Assert.True(match.Success, "no H=[address]:port in Exim's line: " + receivedLine);
        return match.Groups[1].Value;
    }

    /// <summary>Exim's "SMTP connection from [127.0.0.1]:PORT (TCP/IP connection count = N)" lines: one per connection accepted.</summary>
    private static List<string> ConnectionsAccepted(EximServer server, long mark) =>
        [.. server.Log.LinesSince(mark).Where(l => l.Contains("SMTP connection from", StringComparison.Ordinal)
            && l.Contains("connection count", StringComparison.Ordinal))];

    private async Task<LockstepSendResult> SendAsync(ProxyProcess proxy, string idPrefix, string to, int connections = 1)
    {
        var run = await LockstepSender.SendAsync(new LockstepSendOptions
        {
            Port = proxy.OutboundListeners.Single().ListenPort,
            To = [to],
            Connections = connections,
            MessageIdPrefix = idPrefix,
        });
        output.WriteLine(run.ToString());
        return run;
    }

    private void DumpLogs(EximServer server, long mark, ProxyProcess proxy) =>
        output.WriteLine($"--- Exim {server.Name} log\n{server.Log.ReadSince(mark)}\n--- proxy outbound lines\n{string.Join('\n', proxy.OutboundSessionLines)}");

    [GeneratedRegex(@" H=[^\[]*\[[0-9a-fA-F.:]+\]:(\d+)")]
    private static partial Regex HostField();
}
