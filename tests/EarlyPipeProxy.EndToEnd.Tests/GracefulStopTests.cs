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

    // The sentinel of SettleAsync is no strict barrier: Postfix delivers in parallel, and a message it committed just
    // before (the slow smtpd's) can land a moment after the sentinel. Long enough for that, and for a second copy.
    private static readonly TimeSpan DeliveryGrace = TimeSpan.FromSeconds(3);

    [SkippableTheory]
    [InlineData("inbound")]
    [InlineData("outbound")]
    public async Task Sigterm_after_the_final_dot_relays_the_backends_verdict_then_421_and_delivers_once(string direction)
    {
        await postfix.EnsureStartedAsync();
        await using var proxy = await StartProxyAsync(direction, ShutdownTimeout);
        var port = Port(proxy, direction);
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
        await postfix.Maildir.WaitForMessageAsync(id);
        await postfix.SettleAsync();
        await Task.Delay(DeliveryGrace);
        var delivered = Assert.Single(postfix.Maildir.MessagesContaining(id));
        output.WriteLine(delivered.File);
        var deliveries = postfix.Log.LinesSince(mark)
            .Where(l => l.Contains($"to=<{PostfixFixture.Address(id)}>", StringComparison.Ordinal) && l.Contains("status=sent", StringComparison.Ordinal))
            .ToList();
        Assert.Contains(queueId.Groups["id"].Value + ":", Assert.Single(deliveries), StringComparison.Ordinal);
    }

    /// <summary>
    /// The duplicate a stop used to make: the client's dot comes late in the stop (after its cut-off, half the
    /// ShutdownTimeout), too late for Postfix's verdict to come back before the hard end. The proxy must not send it:
    /// the client gets 421 4.3.2 at the cut-off and Postfix delivers nothing, so the client's later retry is the only
    /// copy. Whatever happens, Postfix never delivers a message whose 250 the client did not see.
    /// </summary>
    [SkippableTheory]
    [InlineData("inbound")]
    [InlineData("outbound")]
    public async Task Sigterm_mid_message_a_dot_after_the_cut_off_never_reaches_postfix(string direction)
    {
        await postfix.EnsureStartedAsync();
        var shutdownTimeout = TimeSpan.FromSeconds(6);
        await using var proxy = await StartProxyAsync(direction, shutdownTimeout);
        var id = Ids.New("stoplate-" + direction);
        var mark = postfix.Log.Mark();

        await using var client = await RawSmtpClient.ConnectAsync("127.0.0.1", Port(proxy, direction));
        var replies = new List<SmtpReply>();
        int? exitCode;
        try
        {
            await client.ExpectAsync(220);
            await client.CommandAsync("EHLO late.client.test", 250);
            await client.CommandAsync("MAIL FROM:<late@client.test>", 250);
            await client.CommandAsync($"RCPT TO:<{PostfixFixture.Address(id)}>", 250);
            await client.CommandAsync("DATA", 354);
            await client.SendAsync($"Subject: {id}\r\nX-Marker: {id}\r\n\r\nfirst half\r\n");
            await proxy.SignalAsync("TERM");

            // The client is slow: its dot comes 4 s after the stop began, past the cut-off (3 s) and before the hard
            // end (6 s); Postfix would answer 4 s after the dot, too late. What the proxy says meanwhile is read first.
            try
            {
                replies.Add(await client.ReadReplyAsync(TimeSpan.FromSeconds(4)) ?? throw new IOException("closed without a reply"));
            }
            catch (TimeoutException)
            {
                await client.SendAsync("second half\r\n.\r\n");
            }

            replies.AddRange(await client.ReadRepliesUntilCloseAsync(shutdownTimeout + TimeSpan.FromSeconds(10)));
            exitCode = await proxy.WaitForExitAsync(shutdownTimeout + TimeSpan.FromSeconds(10));
        }
        finally
        {
            output.WriteLine(client.Transcript);
        }

        await postfix.WaitForSessionsToEndAsync(mark);
        await postfix.SettleAsync();
        await Task.Delay(DeliveryGrace);
        var delivered = postfix.Maildir.MessagesContaining(id);
        var acceptedForClient = replies.Any(r => r.Code == 250);
        Assert.False(delivered.Count > 0 && !acceptedForClient,
            "Postfix delivered a message whose 250 the client never saw: the client will send it again (a duplicate)");
        Assert.Empty(delivered);
        Assert.StartsWith("421 4.3.2 ", Assert.Single(replies).Text, StringComparison.Ordinal);
        Assert.True(exitCode == 0, $"the proxy exits 0 (exit {exitCode?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none: still running"})");
        await proxy.WaitForOutputAsync(l => l.Contains("end=\"shutdown, message abandoned before its end\"", StringComparison.Ordinal), "the abandoned session's line");
    }

    /// <summary>
    /// A second SIGTERM while a verdict is awaited stops the proxy at once: the client gets no reply at all (never a
    /// 250 Postfix did not give), and the proxy's session line says that the verdict was lost, which is where a
    /// duplicate may come from.
    /// </summary>
    [SkippableFact]
    public async Task A_second_sigterm_while_the_verdict_is_awaited_stops_at_once_without_a_reply()
    {
        await postfix.EnsureStartedAsync();
        await using var proxy = await StartProxyAsync("inbound", ShutdownTimeout);
        var id = Ids.New("stop2-inbound");

        await using var client = await RawSmtpClient.ConnectAsync("127.0.0.1", Port(proxy, "inbound"));
        IReadOnlyList<SmtpReply> replies;
        int? exitCode;
        TimeSpan afterSecond;
        try
        {
            await client.ExpectAsync(220);
            await client.CommandAsync("EHLO impatient.client.test", 250);
            await client.CommandAsync("MAIL FROM:<impatient@client.test>", 250);
            await client.CommandAsync($"RCPT TO:<{PostfixFixture.Address(id)}>", 250);
            await client.CommandAsync("DATA", 354);
            await client.SendAsync($"Subject: {id}\r\nX-Marker: {id}\r\n\r\nbody\r\n.\r\n");
            await Task.Delay(TimeSpan.FromMilliseconds(500));
            await proxy.SignalAsync("TERM");
            await Task.Delay(TimeSpan.FromMilliseconds(500));
            var clock = Stopwatch.StartNew();
            await proxy.SignalAsync("TERM");
            exitCode = await proxy.WaitForExitAsync(ShutdownTimeout);
            afterSecond = clock.Elapsed;
            replies = await client.ReadRepliesUntilCloseAsync(TimeSpan.FromSeconds(5));
        }
        finally
        {
            output.WriteLine(client.Transcript);
        }

        Assert.True(exitCode == 0, $"the proxy exits 0 (exit {exitCode?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none: still running"})");
        Assert.True(afterSecond < TimeSpan.FromSeconds(2), $"the second SIGTERM stops the proxy at once, not after Postfix's verdict ({afterSecond})");
        Assert.Empty(replies);
        Assert.Contains(proxy.OutputLines, l => l.Contains("end=\"connection aborted awaiting the backend's verdict\"", StringComparison.Ordinal));
    }

    private Task<ProxyProcess> StartProxyAsync(string direction, TimeSpan shutdownTimeout)
    {
        var sections = new Dictionary<string, object> { ["ShutdownTimeout"] = shutdownTimeout.ToString("c", System.Globalization.CultureInfo.InvariantCulture) };
        return direction == "inbound"
            ? ProxyProcess.StartAsync(output, [new ListenerSpec("smtp", postfix.SlowEndOfDataPort)], [], ehloCachePath: null, sections)
            : ProxyProcess.StartAsync(output, [], [new OutboundListenerSpec("out", $"127.0.0.1:{postfix.SlowEndOfDataPort}") { EarlyPipelining = false, TlsMode = "None" }],
                ehloCachePath: null, sections);
    }

    private static int Port(ProxyProcess proxy, string direction) => direction == "inbound" ? proxy["smtp"].ListenPort : proxy.Outbound("out").ListenPort;

    [GeneratedRegex(@"queued as (?<id>[0-9A-F]+)")]
    private static partial Regex QueuedAs();
}
