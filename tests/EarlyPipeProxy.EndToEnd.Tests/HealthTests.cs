using System.Net;
using EarlyPipeProxy.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace EarlyPipeProxy.EndToEnd.Tests;

/// <summary>/healthz: 200 only while every listener is up and every backend answered its last probe.</summary>
[Collection(EndToEndCollection.Name)]
public sealed class HealthTests(PostfixFixture postfix, ITestOutputHelper output)
{
    [SkippableFact]
    public async Task Healthz_is_503_while_a_backend_is_down_and_200_once_every_backend_answers()
    {
        await postfix.EnsureStartedAsync();
        var metricsPort = Peers.FreePort();
        var deadBackend = Peers.FreePort();
        var sections = new Dictionary<string, object> { ["Metrics"] = new { Listen = $"127.0.0.1:{metricsPort}", ProbeInterval = "00:00:01" } };
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };

        await using (var proxy = await ProxyProcess.StartAsync(output, sections,
            new ListenerSpec("up", postfix.SmtpPort), new ListenerSpec("down", deadBackend)))
        {
            await Poll.UntilAsync(() => Peers.IsListening(metricsPort), "the metrics port");
            // Give the prober two rounds: the live backend must be seen up, the dead one must keep the answer at 503.
            await Task.Delay(TimeSpan.FromSeconds(2.5));
            using var response = await http.GetAsync($"http://127.0.0.1:{metricsPort}/healthz");
            var body = await response.Content.ReadAsStringAsync();
            output.WriteLine(body);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.Contains($"backend down 127.0.0.1:{deadBackend}: down: cannot connect to 127.0.0.1:{deadBackend}: Connection refused", body, StringComparison.Ordinal);
            Assert.Contains($"backend up 127.0.0.1:{postfix.SmtpPort}: up (banner 220, EHLO 250, XCLIENT 220)", body, StringComparison.Ordinal);
        }

        await using (var proxy = await ProxyProcess.StartAsync(output, sections, new ListenerSpec("up", postfix.SmtpPort)))
        {
            await Poll.UntilAsync(() => Peers.IsListening(metricsPort), "the metrics port");
            var status = await Poll.UntilAsync(
                () => http.GetAsync($"http://127.0.0.1:{metricsPort}/healthz").GetAwaiter().GetResult() is { StatusCode: HttpStatusCode.OK } ok ? ok : null,
                "/healthz to answer 200");
            Assert.Contains("listener up (inbound): up", await status.Content.ReadAsStringAsync(), StringComparison.Ordinal);

            // The same port serves the metrics, whose health gauges say the same.
            using var metrics = await http.GetAsync($"http://127.0.0.1:{metricsPort}/metrics");
            Assert.Equal(HttpStatusCode.OK, metrics.StatusCode);
            Assert.Contains("earlypipe_listener_up", await metrics.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
    }
}
