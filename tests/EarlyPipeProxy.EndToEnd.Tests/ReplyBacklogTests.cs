using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using EarlyPipeProxy.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace EarlyPipeProxy.EndToEnd.Tests;

/// <summary>
/// Issue 11, item 2, against the real process and Postfix: a client that streams "BDAT 1\r\nx" without ever reading
/// its replies once grew the proxy from 86 MB to 341 MB in 35 s. Now the proxy holds a bounded backlog, stops reading
/// the client while it does not read, drops it after the command timeout and frees its slot.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class ReplyBacklogTests(PostfixFixture postfix, ITestOutputHelper output)
{
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(2);

    /// <summary>How long the client streams at most: the timeout, the 421's bounded flush (5 s) and room.</summary>
    private static readonly TimeSpan StreamBound = TimeSpan.FromSeconds(25);

    /// <summary>Growth allowed: a session's pipes are tens of KB; the hole grew several MB a second.</summary>
    private const long MaxGrowthKb = 30 * 1024;

    [SkippableFact]
    public async Task A_client_streaming_bdat_without_reading_is_dropped_and_the_proxy_does_not_grow()
    {
        await postfix.EnsureStartedAsync();
        await using var proxy = await ProxyProcess.StartAsync(output,
            new ListenerSpec("smtp", postfix.SmtpPort, "Xclient") { MaxConnections = 1, CommandTimeout = CommandTimeout });
        var port = proxy["smtp"].ListenPort;
        var id = Ids.New("backlog");

        // A small receive buffer, never read after the banner: the client's window closes soon.
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096, NoDelay = true };
        await socket.ConnectAsync(IPAddress.Loopback, port);
        var banner = new byte[512];
        var got = await socket.ReceiveAsync(banner.AsMemory()).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.StartsWith("220 ", Encoding.ASCII.GetString(banner, 0, got), StringComparison.Ordinal);
        await socket.SendAsync(Encoding.ASCII.GetBytes($"EHLO backlog.test\r\nMAIL FROM:<backlog@client.test>\r\nRCPT TO:<{PostfixFixture.Address(id)}>\r\n"));
        await Task.Delay(500);
        var before = RssKb(proxy.ProcessId);

        var chunk = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("BDAT 1\r\nx", 1000)));
        var elapsed = Stopwatch.StartNew();
        var sent = 0L;
        var sending = Task.Run(async () =>
        {
            try
            {
                while (elapsed.Elapsed < StreamBound)
                {
                    sent += await socket.SendAsync(chunk);
                }

                return (SocketError?)null;
            }
            catch (SocketException ex)
            {
                return ex.SocketErrorCode;
            }
            catch (ObjectDisposedException)
            {
                return SocketError.OperationAborted;
            }
        });

        var most = before;
        while (!sending.IsCompleted && elapsed.Elapsed < StreamBound)
        {
            most = Math.Max(most, RssKb(proxy.ProcessId));
            await Task.Delay(100);
        }

        var droppedAfter = elapsed.Elapsed;
        var dropped = sending.IsCompleted;
        if (!dropped)
        {
            // The proxy never dropped it: end the send that waits for it.
            socket.Close(0);
        }

        var failure = await sending.WaitAsync(TimeSpan.FromSeconds(10));
        output.WriteLine($"sent {sent} octets; RSS {before} kB before, {most} kB at most; dropped: {dropped} after {droppedAfter} ({failure})");

        Assert.True(dropped, $"the proxy did not drop a client that did not read for {StreamBound}");
        Assert.InRange(droppedAfter, CommandTimeout, StreamBound);
        Assert.InRange(most - before, long.MinValue, MaxGrowthKb);
        var line = await proxy.WaitForOutputAsync(l => l.Contains(" session ", StringComparison.Ordinal) && l.Contains("end=\"timeout\"", StringComparison.Ordinal),
            "the session line with end=timeout");
        output.WriteLine(line);

        // The slot is free again (MaxConnections 1): a new client is served, not refused.
        await using var next = await RawSmtpClient.ConnectAsync("127.0.0.1", port);
        await next.ExpectAsync(220);
        await next.CommandAsync("QUIT", 221);
        Assert.Empty(postfix.Maildir.MessagesContaining(id));
    }

    private static long RssKb(int pid)
    {
        var line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return long.Parse(line["VmRSS:".Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
    }
}
