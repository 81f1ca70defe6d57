using EarlyPipeProxy.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace EarlyPipeProxy.EndToEnd.Tests;

/// <summary>
/// Type=notify (deploy/systemd/earlypipe.service): under systemd the proxy says READY=1 once it listens and STOPPING=1
/// when a stop begins, and logs with journald priorities; outside systemd nothing of that happens. systemd itself does
/// not run here (not PID 1): <see cref="ServiceManagerStandIn"/> plays its part, see there for what is real.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class SystemdNotifyTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task UnderSystemd_ReadyOnceListening_StoppingAtSigterm_JournalPriorities()
    {
        await using var service = await ServiceManagerStandIn.StartAsync(output, asChildOfSystemd: true, journalStream: "8:4242");

        var ready = await service.ReceiveNotificationAsync(Patience);

        Assert.Equal("systemd", await service.ParentProcessNameAsync());
        Assert.Equal("READY=1", ready);
        Assert.True(Peers.IsListening(service.ListenPort), "READY=1 came before the listener was up");

        await using (var client = await RawSmtpClient.ConnectAsync("127.0.0.1", service.ListenPort))
        {
            Assert.Contains(await client.ReadRepliesUntilCloseAsync(Patience), r => r.Code == 421);
        }

        // JOURNAL_STREAM without Logging:Format: our lines behind the priority (Microsoft's systemd formatter, which the
        // hosting package would select, writes "<6>Category[100] …" instead).
        var session = await service.WaitForOutputAsync(l => l.Contains("session H=", StringComparison.Ordinal), "the session line");
        var warning = await service.WaitForOutputAsync(l => l.Contains(" unavailable for H=", StringComparison.Ordinal), "the backend warning");
        Assert.StartsWith("<6>session H=[127.0.0.1]:", session, StringComparison.Ordinal);
        Assert.StartsWith("<4>warning: backend ", warning, StringComparison.Ordinal);

        await service.SignalAsync("TERM");

        Assert.Equal("STOPPING=1", await service.ReceiveNotificationAsync(Patience));
        Assert.Equal(0, await service.WaitForExitAsync(Patience));
        Assert.Contains(service.OutputLines, l => l.StartsWith("<6>stopping: ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task UnderSystemd_Sigint_StillStops()
    {
        // systemd's lifetime stops the host at SIGTERM only; the proxy's own handler makes SIGINT (Ctrl-C in
        // `systemd-run --pty`, `systemctl kill -s INT`) stop it as everywhere else.
        await using var service = await ServiceManagerStandIn.StartAsync(output, asChildOfSystemd: true, journalStream: null);
        Assert.Equal("READY=1", await service.ReceiveNotificationAsync(Patience));

        await service.SignalAsync("INT");

        Assert.Equal("STOPPING=1", await service.ReceiveNotificationAsync(Patience));
        Assert.Equal(0, await service.WaitForExitAsync(Patience));
    }

    [Fact]
    public async Task OutsideSystemd_NoNotification_AndTextLines_EvenWithNotifySocketSet()
    {
        await using var service = await ServiceManagerStandIn.StartAsync(output, asChildOfSystemd: false, journalStream: null);
        await Poll.UntilAsync(() => Peers.IsListening(service.ListenPort), "the proxy to listen", Patience);
        await service.WaitForOutputAsync(l => l.Contains("listening", StringComparison.OrdinalIgnoreCase), "the listener line");
        Assert.NotEqual("systemd", await service.ParentProcessNameAsync());

        await service.SignalAsync("TERM");
        Assert.Equal(0, await service.WaitForExitAsync(Patience));

        // The process is gone, so anything it would have sent is in the socket's queue by now.
        Assert.Equal(0, service.PendingNotificationBytes);
        Assert.All(
            service.OutputLines.Where(l => !l.StartsWith("stderr: ", StringComparison.Ordinal)),
            l => Assert.Matches(@"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} ", l));
    }
}
