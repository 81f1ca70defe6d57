using System.Diagnostics;
using System.Text.RegularExpressions;
using EarlyPipeProxy.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace EarlyPipeProxy.EndToEnd.Tests;

/// <summary>
/// Issue 11 item 7: stopping never duplicates. SIGTERM reaches the proxy while Postfix holds its verdict on a message
/// whose final dot it already has (smtpd_end_of_data_restrictions = sleep): the client still reads Postfix's own 250
/// with its queue id, then 421 4.3.2, the message is delivered exactly once, and the proxy exits 0 within its
/// ShutdownTimeout. Were the verdict lost, the client would send the message again.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed partial class GracefulStopTests(PostfixFixture postfix, ITestOutputHelper output)
{
    private static readonly TimeSpan ShutdownTimeout = TimeSpan.FromSeconds(20);

    [SkippableTheory]
    [InlineData("inbound")]
    [InlineData("outbound")]
    public async Task Sigterm_after_the_final_dot_relays_the_backends_verdict_then_421_and_delivers_once(string direction)
    {
        await postfix.EnsureStartedAsync();
        var sections = new Dictionary<string, object> { ["ShutdownTimeout"] = ShutdownTimeout.ToString("c", System.Globalization.CultureInfo.InvariantCulture) };
        var slowPostfix = $"127.0.0.1:{postfix.SlowEndOfDataPort}";
        await using var proxy = direction == "inbound"
            ? await ProxyProcess.StartAsync(output, [new ListenerSpec("smtp", postfix.SlowEndOfDataPort)], [], ehloCachePath: null, sections)
            : await ProxyProcess.StartAsync(output, [], [new OutboundListenerSpec("out", slowPostfix) { EarlyPipelining = false, TlsMode = "None" }],
                ehloCachePath: null, sections);
        var port = direction == "inbound" ? proxy["smtp"].ListenPort : proxy.Outbound("out").ListenPort;
        var id = Ids.New("stop-" + direction);
        var mark = postfix.Log.Mark();

        await using var client = await RawSmtpClient.ConnectAsync("127.0.0.1", port);
        SmtpReply? verdict;
        IReadOnlyList<SmtpReply> rest;
        int? exitCode;
        TimeSpan stopped;
        try
        {
            await client.ExpectAsync(220);
            await client.CommandAsync("EHLO stopping.client.test", 250);
            await client.CommandAsync("MAIL FROM:<stopping@client.test>", 250);
            await client.CommandAsync($"RCPT TO:<{PostfixFixture.Address(id)}>", 250);
            await client.CommandAsync("DATA", 354);
            await client.SendAsync($"Subject: {id}\r\nX-Marker: {id}\r\n\r\nstopped while Postfix thinks\r\n.\r\n");

            // The dot reaches Postfix at once; its verdict takes SlowEndOfDataSeconds. The stop comes in between.
            await Task.Delay(TimeSpan.FromSeconds(1));
            Assert.True(client.SocketAvailable + client.BufferedByteCount == 0, "the verdict must still be to come when the stop is asked for");
            var clock = Stopwatch.StartNew();
            await proxy.SignalAsync("TERM");
            verdict = await client.ReadReplyAsync(ShutdownTimeout + TimeSpan.FromSeconds(10));
            rest = await client.ReadRepliesUntilCloseAsync(TimeSpan.FromSeconds(10));
            exitCode = await proxy.WaitForExitAsync(ShutdownTimeout + TimeSpan.FromSeconds(10));
            stopped = clock.Elapsed;
        }
        finally
        {
            output.WriteLine(client.Transcript);
        }

        // The client: Postfix's own verdict, then the proxy's goodbye.
        Assert.NotNull(verdict);
        Assert.Equal(250, verdict.Code);
        var queueId = QueuedAs().Match(verdict.Text);
        Assert.True(queueId.Success, "Postfix's 250 names its queue id: " + verdict.Text);
        Assert.StartsWith("421 4.3.2 ", Assert.Single(rest).Text, StringComparison.Ordinal);

        // The proxy: exited by itself, cleanly, within its ShutdownTimeout.
        Assert.True(exitCode == 0, $"the proxy exits 0 after a graceful stop (exit {exitCode?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none: still running"})");
        Assert.True(stopped < ShutdownTimeout, $"the stop took {stopped}, more than the ShutdownTimeout {ShutdownTimeout}");

        // Postfix: the message delivered exactly once, under the queue id the client was given.
        await postfix.WaitForSessionsToEndAsync(mark);
        await postfix.SettleAsync();
        var delivered = Assert.Single(postfix.Maildir.MessagesContaining(id));
        output.WriteLine(delivered.File);
        var deliveries = postfix.Log.LinesSince(mark)
            .Where(l => l.Contains($"to=<{PostfixFixture.Address(id)}>", StringComparison.Ordinal) && l.Contains("status=sent", StringComparison.Ordinal))
            .ToList();
        Assert.Contains(queueId.Groups["id"].Value + ":", Assert.Single(deliveries), StringComparison.Ordinal);
    }

    [GeneratedRegex(@"queued as (?<id>[0-9A-F]+)")]
    private static partial Regex QueuedAs();
}
