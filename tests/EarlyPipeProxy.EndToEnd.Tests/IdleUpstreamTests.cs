using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using EarlyPipeProxy.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace EarlyPipeProxy.EndToEnd.Tests;

/// <summary>
/// Issue 11 items 3 and 6 against the real process: while the peer is idle and the upstream owes nothing, the
/// proxy still listens to the upstream. Postfix's own smtpd_timeout 421 (and Exim's smtp_receive_timeout 421
/// outbound) reaches the peer when it is said, not at the peer's next command, and the connection closes; a reply
/// nobody asked for (our own misbehaving backend) ends the session with 421 and resets the backend.
/// The proxy's command timeout is a minute throughout: only the watch can explain a prompt answer.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class IdleUpstreamTests(ITestOutputHelper output)
{
    private static readonly TimeSpan UpstreamTimeout = TimeSpan.FromSeconds(3);

    /// <summary>
    /// The upstream's timer starts before the client's stopwatch (the reply still had to be relayed; Exim's alarm()
    /// counts whole seconds), and machines are busy.
    /// </summary>
    private static readonly TimeSpan Margin = TimeSpan.FromSeconds(4);

    private static readonly TimeSpan ProxyCommandTimeout = TimeSpan.FromMinutes(1);

    [SkippableFact]
    public async Task Postfix_timeout_421_reaches_an_idle_client_at_once_and_the_connection_closes()
    {
        Peers.Require();
        var env = new Dictionary<string, string>
        {
            ["PF_NAME"] = "e2e-idle",
            ["PF_PORT"] = Peers.FreePort().ToString(),
            ["PF_PROXY_PORT"] = Peers.FreePort().ToString(),
            ["PF_SMTPD_TIMEOUT"] = ((int)UpstreamTimeout.TotalSeconds).ToString() + "s",
            ["PF_TLS"] = "0",
        };
        await PeerScripts.RunCheckedAsync("postfix.sh", ["stop"], env);
        await PeerScripts.RunCheckedAsync("postfix.sh", ["start"], env);
        try
        {
            await using var proxy = await ProxyProcess.StartAsync(output,
                new ListenerSpec("smtp", int.Parse(env["PF_PORT"])) { CommandTimeout = ProxyCommandTimeout });
            await using var client = await RawSmtpClient.ConnectAsync("127.0.0.1", proxy["smtp"].ListenPort);
            await client.ExpectAsync(220);
            await client.CommandAsync("EHLO idle.client.test", 250);
            var idle = Stopwatch.StartNew();

            var reply = await client.ReadReplyAsync(UpstreamTimeout + Margin);
            var heardAfter = idle.Elapsed;
            var after = await client.ReadRepliesUntilCloseAsync(TimeSpan.FromSeconds(5));
            output.WriteLine($"after {heardAfter}: {reply}; then {after.Count} replies, closed: {client.Closed}");

            Assert.NotNull(reply);
            Assert.Equal(421, reply.Code);
            // Postfix's own words, with its own name: the client learns why.
            Assert.Equal("421 4.4.2 e2e-idle.legacy-backend.peers.test Error: timeout exceeded", reply.Text);
            Assert.InRange(heardAfter, UpstreamTimeout / 3, UpstreamTimeout + Margin);
            Assert.Empty(after);
            var line = await proxy.WaitForOutputAsync(l => l.Contains(" session ", StringComparison.Ordinal) && l.Contains("end=\"backend closed with 421\"", StringComparison.Ordinal),
                "the session line with end=\"backend closed with 421\"");
            output.WriteLine(line);
        }
        finally
        {
            await PeerScripts.RunAsync("postfix.sh", ["stop"], env);
        }
    }

    [SkippableFact]
    public async Task A_backend_reply_while_nothing_is_owed_ends_the_session_with_421_and_resets_the_backend()
    {
        Peers.Require();
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var backendPort = ((IPEndPoint)listener.LocalEndpoint).Port;
        var backend = Task.Run(() => MisbehaveAsync(listener));
        await using var proxy = await ProxyProcess.StartAsync(output,
            new ListenerSpec("smtp", backendPort, "None") { CommandTimeout = ProxyCommandTimeout });
        await using var client = await RawSmtpClient.ConnectAsync("127.0.0.1", proxy["smtp"].ListenPort);
        await client.ExpectAsync(220);
        await client.CommandAsync("EHLO idle.client.test", 250);
        var idle = Stopwatch.StartNew();

        var reply = await client.ReadReplyAsync(Margin);
        var heardAfter = idle.Elapsed;
        var after = await client.ReadRepliesUntilCloseAsync(TimeSpan.FromSeconds(5));
        var backendSaw = await backend.WaitAsync(TimeSpan.FromSeconds(10));
        output.WriteLine($"after {heardAfter}: {reply}; then {after.Count} replies; the backend saw: {backendSaw}");

        Assert.NotNull(reply);
        Assert.Equal("421 4.4.2 Service not available: backend connection failed", reply.Text);
        Assert.InRange(heardAfter, TimeSpan.Zero, Margin);
        Assert.Empty(after);
        Assert.Equal("reset", backendSaw);
        await proxy.WaitForOutputAsync(l => l.Contains("sent a reply while nothing was owed (out of step): 250 2.0.0 Ok, nobody asked", StringComparison.Ordinal),
            "the warning naming the unsolicited reply");
        await proxy.WaitForOutputAsync(l => l.Contains(" session ", StringComparison.Ordinal) && l.Contains("end=\"backend refused or misbehaved\"", StringComparison.Ordinal),
            "the session line with end=\"backend refused or misbehaved\"");
    }

    [SkippableFact]
    public async Task Exim_timeout_421_reaches_an_idle_sender_at_once_outbound()
    {
        Peers.Require();
        await using var exim = await EximServer.StartAsync("e2e-out-idle", new Dictionary<string, string>
        {
            ["EXIM_RECEIVE_TIMEOUT"] = ((int)UpstreamTimeout.TotalSeconds).ToString() + "s",
        });
        await using var proxy = await ProxyProcess.StartOutboundAsync(output, new OutboundListenerSpec("smarthost", $"127.0.0.1:{exim.Port}") { TlsMode = "None" });
        await using var sender = await RawSmtpClient.ConnectAsync("127.0.0.1", proxy.OutboundListeners.Single().ListenPort);
        await sender.ExpectAsync(220);
        await sender.CommandAsync("EHLO idle.sender.test", 250);
        var idle = Stopwatch.StartNew();

        var reply = await sender.ReadReplyAsync(UpstreamTimeout + Margin);
        var heardAfter = idle.Elapsed;
        var after = await sender.ReadRepliesUntilCloseAsync(TimeSpan.FromSeconds(5));
        output.WriteLine($"after {heardAfter}: {reply}; then {after.Count} replies, closed: {sender.Closed}");

        Assert.NotNull(reply);
        Assert.Equal(421, reply.Code);
        Assert.Contains("timeout", reply.Text, StringComparison.OrdinalIgnoreCase);
        Assert.InRange(heardAfter, UpstreamTimeout / 3, UpstreamTimeout + Margin);
        Assert.Empty(after);
        await proxy.WaitForOutputAsync(l => l.Contains("outbound ", StringComparison.Ordinal) && l.Contains("end=\"remote closed with 421\"", StringComparison.Ordinal),
            "the session line with end=\"remote closed with 421\"");
    }

    /// <summary>
    /// Our own backend, misbehaving on purpose: it greets, answers EHLO, then sends a reply no command asked for.
    /// Returns what it then saw of the proxy: "reset" (an abort), "closed" (a FIN) or what it was sent. Connections
    /// that are not a client's session (the proxy's health probe) are answered and closed.
    /// </summary>
    private static async Task<string> MisbehaveAsync(TcpListener listener)
    {
        while (true)
        {
            using var socket = await listener.AcceptSocketAsync();
            await using var stream = new NetworkStream(socket);
            using var reader = new StreamReader(stream, Encoding.Latin1);
            await WriteAsync(stream, "220 misbehaving.test ESMTP\r\n");
            string? first;
            try
            {
                first = await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30));
            }
            catch (IOException)
            {
                continue;
            }

            if (first != "EHLO idle.client.test")
            {
                // The proxy's health probe (its own EHLO, then QUIT), or anything else: served politely. The session
                // under test is the one that replays the client's EHLO (ClientIdentity None).
                await WriteAsync(stream, first is null ? string.Empty : "250 misbehaving.test\r\n221 2.0.0 Bye\r\n");
                continue;
            }

            await WriteAsync(stream, "250-misbehaving.test\r\n250 PIPELINING\r\n");
            await Task.Delay(500);
            await WriteAsync(stream, "250 2.0.0 Ok, nobody asked\r\n");
            try
            {
                var next = await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(8));
                return next is null ? "closed" : "sent: " + next;
            }
            catch (IOException ex) when (ex.InnerException is SocketException { SocketErrorCode: SocketError.ConnectionReset })
            {
                return "reset";
            }
        }
    }

    private static async Task WriteAsync(NetworkStream stream, string text) => await stream.WriteAsync(Encoding.Latin1.GetBytes(text));
}
