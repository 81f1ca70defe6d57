using System.Net;
using EarlyPipeProxy.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace EarlyPipeProxy.EndToEnd.Tests;

/// <summary>
/// /healthz tells the truth about a backend: its probe does what a session does (the PROXY header or XCLIENT, STARTTLS
/// toward the backend), so a Postfix that greets but refuses the proxy's XCLIENT, or reads a PROXY header as commands,
/// makes it 503 with Postfix's own words, and the log says so once, at start-up, naming the listener.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class HealthProbeTests(PostfixFixture postfix, ITestOutputHelper output)
{
    private static readonly TimeSpan ProbeInterval = TimeSpan.FromSeconds(1);

    [SkippableFact]
    public async Task Healthz_is_200_when_Postfix_authorises_the_proxys_XCLIENT_in_cleartext_and_after_STARTTLS()
    {
        await postfix.EnsureStartedAsync();
        var metricsPort = Peers.FreePort();
        var mark = postfix.Log.Mark();
        await using var proxy = await ProxyProcess.StartAsync(output, Sections(metricsPort),
            new ListenerSpec("smtp", postfix.SmtpPort), new ListenerSpec("secure", postfix.SmtpPort) { BackendTls = "StartTls" });

        var (status, body) = await PollHealthzAsync(metricsPort, HttpStatusCode.OK);
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Contains($"backend smtp 127.0.0.1:{postfix.SmtpPort}: up (banner 220, EHLO 250, XCLIENT 220)", body, StringComparison.Ordinal);
        Assert.Contains($"backend secure 127.0.0.1:{postfix.SmtpPort}: up (banner 220, STARTTLS TLS1.", body, StringComparison.Ordinal);

        // Postfix's own account of the probes: EHLO and XCLIENT in cleartext, EHLO, STARTTLS, EHLO and XCLIENT behind
        // it, each ended by a QUIT it answered. (Postfix counts XCLIENT "0/1" whether it took it or not, since a
        // taken XCLIENT restarts its session; a real session through the proxy logs the same. That it took it is
        // its 220 above; what a refusal looks like is the next test.)
        var cleartext = await postfix.Log.WaitForLineAsync(mark,
            l => l.Contains("disconnect from unknown[127.0.0.1] ehlo=1 xclient=0/1 quit=1 commands=2/3", StringComparison.Ordinal),
            "Postfix's disconnect line of a cleartext probe");
        var secured = await postfix.Log.WaitForLineAsync(mark,
            l => l.Contains("disconnect from unknown[127.0.0.1] ehlo=2 xclient=0/1 starttls=1 quit=1 commands=4/5", StringComparison.Ordinal),
            "Postfix's disconnect line of a probe through STARTTLS");
        output.WriteLine(cleartext + "\n" + secured);
        Assert.Contains(proxy.OutputLines, l => l.Contains($"health: backend smtp 127.0.0.1:{postfix.SmtpPort} is up", StringComparison.Ordinal));
    }

    [SkippableFact]
    public async Task Healthz_is_503_with_Postfixs_reason_when_the_proxy_is_not_an_authorised_XCLIENT_host_and_the_start_logs_it_once()
    {
        Peers.Require();
        var env = new Dictionary<string, string>
        {
            ["PF_NAME"] = "e2e-noxclient",
            ["PF_PORT"] = Peers.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["PF_PROXY_PORT"] = Peers.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture),
            // Somebody else's address: 127.0.0.1, where the proxy connects from, may not send XCLIENT.
            ["PF_XCLIENT_HOSTS"] = "192.0.2.1",
            ["PF_TLS"] = "0",
        };
        await PeerScripts.RunCheckedAsync("postfix.sh", ["stop"], env);
        await PeerScripts.RunCheckedAsync("postfix.sh", ["start"], env);
        try
        {
            var backendPort = int.Parse(env["PF_PORT"], System.Globalization.CultureInfo.InvariantCulture);
            var log = new LogFile(Path.Combine(Peers.StateDir, "postfix-" + env["PF_NAME"], "maillog"));
            var mark = log.Mark();
            var metricsPort = Peers.FreePort();
            await using var proxy = await ProxyProcess.StartAsync(output, Sections(metricsPort), new ListenerSpec("smtp", backendPort));

            const string Reason = "XCLIENT refused: 550 5.7.0 Error: insufficient authorization";
            var warning = await proxy.WaitForOutputAsync(
                l => l.Contains("start-up: I=smtp cannot work", StringComparison.Ordinal) && l.Contains(Reason, StringComparison.Ordinal),
                "the start-up warning naming the listener");
            output.WriteLine(warning);
            Assert.Contains($"backend 127.0.0.1:{backendPort}", warning, StringComparison.Ordinal);

            // Several probes later: still 503 with Postfix's words, and still only the one warning.
            await Task.Delay(3 * ProbeInterval);
            var (status, body) = await GetHealthzAsync(metricsPort);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
            Assert.Contains($"backend smtp 127.0.0.1:{backendPort}: down: {Reason}", body, StringComparison.Ordinal);
            Assert.Single(proxy.OutputLines, l => l.Contains(Reason, StringComparison.Ordinal));
            Assert.False(proxy.HasExited, "the proxy keeps running in front of a backend that refuses it");

            // The reason is Postfix's own 550 text, quoted; its log shows the probes' XCLIENT and their QUIT.
            var refused = await log.WaitForLineAsync(mark,
                l => l.Contains("disconnect from unknown[127.0.0.1] ehlo=1 xclient=0/1 quit=1 commands=2/3", StringComparison.Ordinal),
                "Postfix's disconnect line of a probe");
            output.WriteLine(refused);

            // And that is what a client meets: the session cannot introduce it, so it gets 421.
            await using var client = await RawSmtpClient.ConnectAsync("127.0.0.1", proxy["smtp"].ListenPort);
            var first = await client.ReadReplyAsync(TimeSpan.FromSeconds(10));
            output.WriteLine("client got: " + first);
            Assert.NotNull(first);
            Assert.Equal(421, first.Code);
        }
        finally
        {
            await PeerScripts.RunAsync("postfix.sh", ["stop"], env);
        }
    }

    [SkippableFact]
    public async Task A_ProxyV2_listener_in_front_of_a_Postfix_port_without_upstream_proxy_protocol_is_503_with_the_reason()
    {
        await postfix.EnsureStartedAsync();
        var metricsPort = Peers.FreePort();
        var mark = postfix.Log.Mark();
        await using var proxy = await ProxyProcess.StartAsync(output, Sections(metricsPort),
            new ListenerSpec("wrong", postfix.SmtpPort, "ProxyV2"), new ListenerSpec("right", postfix.ProxyProtocolPort, "ProxyV2"));

        await proxy.WaitForOutputAsync(l => l.Contains("start-up: I=wrong cannot work", StringComparison.Ordinal), "the start-up warning for I=wrong");
        var (status, body) = await PollHealthzAsync(metricsPort, expected: null,
            ready: b => b.Contains("backend right", StringComparison.Ordinal) && !b.Contains("not probed yet", StringComparison.Ordinal));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
        var wrong = body.Split('\n').Single(l => l.StartsWith("backend wrong ", StringComparison.Ordinal));
        Assert.StartsWith($"backend wrong 127.0.0.1:{postfix.SmtpPort}: down: ", wrong, StringComparison.Ordinal);
        Assert.Contains("after the PROXY v2 header: does the backend expect one? Postfix: smtpd_upstream_proxy_protocol = haproxy", wrong, StringComparison.Ordinal);
        // The port that does expect the header takes it: only the misconfigured listener is down.
        Assert.Contains($"backend right 127.0.0.1:{postfix.ProxyProtocolPort}: up (PROXY v2 header taken, banner 220, EHLO 250)", body, StringComparison.Ordinal);

        // Postfix read the header's bytes as SMTP input on the plain port.
        var garbage = await postfix.Log.WaitForLineAsync(mark,
            l => l.Contains($"postfix-{PostfixFixture.InstanceName}/smtpd", StringComparison.Ordinal)
                && (l.Contains("improper command pipelining", StringComparison.Ordinal) || l.Contains("non-SMTP command", StringComparison.Ordinal)),
            "Postfix's complaint about the header on its plain port");
        output.WriteLine(garbage);
    }

    private static Dictionary<string, object> Sections(int metricsPort) => new()
    {
        ["Metrics"] = new { Listen = $"127.0.0.1:{metricsPort}", ProbeInterval = ProbeInterval.ToString("c", System.Globalization.CultureInfo.InvariantCulture) },
    };

    private async Task<(HttpStatusCode Status, string Body)> GetHealthzAsync(int metricsPort)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        using var response = await http.GetAsync($"http://127.0.0.1:{metricsPort}/healthz");
        var body = await response.Content.ReadAsStringAsync();
        output.WriteLine($"/healthz {(int)response.StatusCode}:\n{body}");
        return (response.StatusCode, body);
    }

    /// <summary>/healthz once it answers <paramref name="expected"/> (any status when null) and <paramref name="ready"/> holds for its body.</summary>
    private async Task<(HttpStatusCode Status, string Body)> PollHealthzAsync(int metricsPort, HttpStatusCode? expected, Func<string, bool>? ready = null)
    {
        await Poll.UntilAsync(() => Peers.IsListening(metricsPort), "the metrics port");
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            var (status, body) = await GetHealthzAsync(metricsPort);
            if ((expected is null || status == expected) && (ready?.Invoke(body) ?? true))
            {
                return (status, body);
            }

            if (DateTime.UtcNow > deadline)
            {
                return (status, body);
            }

            await Task.Delay(ProbeInterval / 2);
        }
    }
}
