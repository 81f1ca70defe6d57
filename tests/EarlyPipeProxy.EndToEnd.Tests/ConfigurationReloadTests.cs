using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;
using EarlyPipeProxy.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace EarlyPipeProxy.EndToEnd.Tests;

/// <summary>
/// SIGHUP on a running proxy: it never ends the process; it reads the configuration file again and applies what it
/// can to new sessions while a session in flight (mid-DATA, to a real Postfix) completes with the settings it started
/// with; what needs a restart is logged as such and the rest applies; a file that does not load or check is logged and
/// the running configuration stays; the Logging section's levels change. And certificates at start: an expired one is
/// served (and logged loudly), an unreadable one leaves only its own listener closed, which /healthz reports.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class ConfigurationReloadTests(PostfixFixture postfix, ITestOutputHelper output)
{
    private static readonly string LongLine = "NOOP " + new string('x', 300);

    /// <summary>
    /// No TLS listener at all (the certificate reloader used to be the only SIGHUP handler, and without one the runtime's
    /// default ended the process): SIGHUP reloads and the proxy keeps listening. Then a changed Listen address: logged as
    /// needing a restart, the old address still listens, the new one does not.
    /// </summary>
    [Fact]
    public async Task SIGHUP_without_a_TLS_listener_reloads_and_a_Listen_change_waits_for_a_restart()
    {
        var deadBackend = Peers.FreePort();
        await using var proxy = await ProxyProcess.StartAsync(output, new ListenerSpec("plain", deadBackend));
        var port = proxy["plain"].ListenPort;

        await proxy.SignalAsync("HUP");
        await WaitForNewLineAsync(proxy, l => l.Contains("applied after SIGHUP", StringComparison.Ordinal), 0, "the reload after SIGHUP");
        await Task.Delay(500);
        Assert.False(proxy.HasExited, "the proxy exited after SIGHUP:\n" + string.Join('\n', proxy.OutputLines));
        Assert.True(Peers.IsListening(port), "the listener is gone after SIGHUP");

        var newPort = Peers.FreePort();
        await EditConfigAsync(proxy, root => root["Inbound"]![0]!["Listen"] = $"127.0.0.1:{newPort}");
        await proxy.SignalAsync("HUP");
        output.WriteLine("proxy: " + await WaitForNewLineAsync(
            proxy, l => l.Contains("reload: Inbound:0:Listen changed; needs a restart", StringComparison.Ordinal), 0, "the Listen change logged"));
        await WaitForNewLineAsync(proxy, l => l.Contains("applied after SIGHUP", StringComparison.Ordinal), 1, "the second reload applied");
        Assert.True(Peers.IsListening(port), "the old Listen address stopped listening");
        Assert.False(Peers.IsListening(newPort), "the new Listen address listens without a restart");
        Assert.False(proxy.HasExited);
    }

    /// <summary>
    /// A listener's Transparent switch is set on its listening socket when it is created: a change waits for a restart,
    /// and the rest of the file (here Backend:ClientIdentity, to Transparent) applies at once.
    /// </summary>
    [Fact]
    public async Task A_Transparent_change_waits_for_a_restart()
    {
        await using var proxy = await ProxyProcess.StartAsync(output, new ListenerSpec("plain", Peers.FreePort()));

        await EditConfigAsync(proxy, root =>
        {
            root["Inbound"]![0]!["Transparent"] = true;
            root["Inbound"]![0]!["Backend"]!["ClientIdentity"] = "Transparent";
        });
        await proxy.SignalAsync("HUP");
        output.WriteLine("proxy: " + await WaitForNewLineAsync(
            proxy, l => l.Contains("reload: Inbound:0:Transparent changed; needs a restart", StringComparison.Ordinal), 0, "the Transparent change logged"));
        output.WriteLine("proxy: " + await WaitForNewLineAsync(
            proxy, l => l.Contains("applied after SIGHUP (1 change(s) wait for a restart)", StringComparison.Ordinal), 0, "the reload applied"));
        Assert.False(proxy.HasExited);
    }

    /// <summary>
    /// A session is in the middle of its message (after DATA, part of the body sent) when the file changes
    /// PipeConnect:AdvertiseHosts (no longer 127.0.0.1), Limits:MaxLineLength (512 to 200) and Timeouts:Command, and
    /// SIGHUP is sent. The session ends its message, Postfix delivers it, and the session still has its own settings: a
    /// 300-octet line is not "too long" for it, and its EHLO still offers PIPECONNECT. A new session has the new ones:
    /// no PIPECONNECT, and the same line gets 500 5.5.2.
    /// </summary>
    [SkippableFact]
    public async Task A_session_in_flight_across_SIGHUP_completes_with_its_settings_and_new_sessions_get_the_new_ones()
    {
        await postfix.EnsureStartedAsync();
        await using var proxy = await ProxyProcess.StartAsync(output, new ListenerSpec("reload", postfix.SmtpPort));
        var port = proxy["reload"].ListenPort;
        var mark = postfix.Log.Mark();
        var id = Ids.New("hup");

        await using (var old = await RawSmtpClient.ConnectAsync("127.0.0.1", port))
        {
            try
            {
                await old.ExpectAsync(220);
                Assert.True(OffersPipeConnect(await old.CommandAsync("EHLO before.test", 250)), "PIPECONNECT not offered before the reload");
                await old.CommandAsync("MAIL FROM:<hup@client.test>", 250);
                await old.CommandAsync($"RCPT TO:<{PostfixFixture.Address(id)}>", 250);
                await old.CommandAsync("DATA", 354);
                await old.SendAsync($"Subject: {id}\r\nX-Marker: {id}\r\n\r\nfirst half, ");

                await EditConfigAsync(proxy, root =>
                {
                    var listener = root["Inbound"]![0]!;
                    listener["PipeConnect"]!["AdvertiseHosts"] = new JsonArray("192.0.2.0/24");
                    listener["Limits"] = new JsonObject { ["MaxLineLength"] = 200 };
                    listener["Timeouts"]!["Command"] = "00:00:45";
                });
                await proxy.SignalAsync("HUP");
                output.WriteLine("proxy: " + await WaitForNewLineAsync(
                    proxy, l => l.Contains("applied after SIGHUP", StringComparison.Ordinal), 0, "the reload applied"));

                await old.SendAsync("second half across a reload\r\n.\r\n");
                await old.ExpectAsync(250);
                var longLine = await SendLineAsync(old, LongLine);
                Assert.DoesNotContain("too long", longLine.Text, StringComparison.OrdinalIgnoreCase);
                Assert.True(OffersPipeConnect(await old.CommandAsync("EHLO after.test", 250)),
                    "the session in flight lost PIPECONNECT: it must keep the settings it started with");
                await old.CommandAsync("QUIT", 221);
            }
            finally
            {
                output.WriteLine(old.Transcript);
            }
        }

        var stored = await postfix.Maildir.WaitForMessageAsync("X-Marker: " + id);
        Assert.Equal("first half, second half across a reload\n", Maildir.Body(stored));

        await using (var fresh = await RawSmtpClient.ConnectAsync("127.0.0.1", port))
        {
            try
            {
                await fresh.ExpectAsync(220);
                Assert.False(OffersPipeConnect(await fresh.CommandAsync("EHLO new.test", 250)), "a new session is still offered PIPECONNECT");
                var tooLong = await SendLineAsync(fresh, LongLine);
                Assert.Equal(500, tooLong.Code);
                Assert.Contains("5.5.2", tooLong.Text, StringComparison.Ordinal);
                await fresh.CommandAsync("QUIT", 221);
            }
            finally
            {
                output.WriteLine(fresh.Transcript);
            }
        }

        await postfix.WaitForSessionsToEndAsync(mark, minSessions: 2);
    }

    /// <summary>
    /// A file that does not check (a limit too small, with AdvertiseHosts changed too) and then one that is not JSON:
    /// each problem is logged, "rejected", and new sessions still get the running settings (PIPECONNECT offered).
    /// Then a good file applies (PIPECONNECT no longer offered), so the rejections changed nothing for later reloads.
    /// </summary>
    [SkippableFact]
    public async Task A_configuration_that_does_not_check_is_logged_and_the_running_one_stays()
    {
        await postfix.EnsureStartedAsync();
        await using var proxy = await ProxyProcess.StartAsync(output, new ListenerSpec("strict", postfix.SmtpPort));
        var port = proxy["strict"].ListenPort;
        var good = await File.ReadAllTextAsync(proxy.ConfigPath);

        await EditConfigAsync(proxy, root =>
        {
            var listener = root["Inbound"]![0]!;
            listener["PipeConnect"]!["AdvertiseHosts"] = new JsonArray(":");
            listener["Limits"] = new JsonObject { ["MaxLineLength"] = 10 };
        });
        await proxy.SignalAsync("HUP");
        output.WriteLine("proxy: " + await WaitForNewLineAsync(
            proxy, l => l.Contains("reload: Inbound listener 'strict': limits are too small", StringComparison.Ordinal), 0, "the problem logged"));
        await WaitForNewLineAsync(proxy, l => l.Contains("rejected after SIGHUP (1 problem(s)); the running configuration stays", StringComparison.Ordinal), 0,
            "the rejection");
        Assert.True(await NewSessionOffersPipeConnectAsync(port), "the rejected file's AdvertiseHosts was applied");

        await File.WriteAllTextAsync(proxy.ConfigPath, good[..(good.Length / 2)]);
        await proxy.SignalAsync("HUP");
        output.WriteLine("proxy: " + await WaitForNewLineAsync(
            proxy, l => l.Contains("reload: Failed to load configuration from file", StringComparison.Ordinal), 0, "the JSON problem logged"));
        await WaitForNewLineAsync(proxy, l => l.Contains("the running configuration stays", StringComparison.Ordinal), 1, "the second rejection");
        Assert.True(await NewSessionOffersPipeConnectAsync(port), "a file that is not JSON changed the running configuration");
        Assert.False(proxy.HasExited);

        await File.WriteAllTextAsync(proxy.ConfigPath, good);
        await EditConfigAsync(proxy, root => root["Inbound"]![0]!["PipeConnect"]!["AdvertiseHosts"] = new JsonArray(":"));
        await proxy.SignalAsync("HUP");
        await WaitForNewLineAsync(proxy, l => l.Contains("applied after SIGHUP", StringComparison.Ordinal), 0, "the good file applied");
        Assert.False(await NewSessionOffersPipeConnectAsync(port), "the good file's AdvertiseHosts was not applied");
    }

    /// <summary>
    /// Logging:LogLevel changed on reload: with the sessions' category at Warning, a session's (Information) line is no
    /// longer written; before the reload it was.
    /// </summary>
    [SkippableFact]
    public async Task A_log_level_changed_by_SIGHUP_takes_effect()
    {
        await postfix.EnsureStartedAsync();
        await using var proxy = await ProxyProcess.StartAsync(output, new ListenerSpec("levels", postfix.SmtpPort));
        var port = proxy["levels"].ListenPort;

        await OneSessionAsync(port);
        await WaitForNewLineAsync(proxy, IsSessionLine, 0, "the session line before the reload");

        await EditConfigAsync(proxy, root => root["Logging"] = new JsonObject
        {
            ["LogLevel"] = new JsonObject { ["Default"] = "Information", ["EarlyPipeProxy.Sessions"] = "Warning" },
        });
        await proxy.SignalAsync("HUP");
        await WaitForNewLineAsync(proxy, l => l.Contains("applied after SIGHUP", StringComparison.Ordinal), 0, "the reload applied");

        await OneSessionAsync(port);
        // The session line is written as the session ends, right after QUIT's 221; give it time to (not) appear.
        await Task.Delay(TimeSpan.FromSeconds(2));
        var sessionLines = proxy.OutputLines.Where(IsSessionLine).ToArray();
        Assert.True(sessionLines.Length == 1, "a session line was written at Warning:\n" + string.Join('\n', sessionLines));
    }

    /// <summary>
    /// Four listeners: a cleartext one, a TLS-on-connect one whose certificate expired in 2020, an inbound STARTTLS one and
    /// an outbound one whose certificate files do not exist. The proxy starts; the cleartext listener serves (Postfix's
    /// banner and EHLO); the TLS one presents the expired certificate and serves, and the proxy logs it at start and
    /// again on SIGHUP; the two without a certificate are not opened, each logged with its file, and /healthz is 503
    /// naming them and why;
    /// earlypipe_certificate_expiry_timestamp_seconds has the expired certificate's NotAfter.
    /// </summary>
    [SkippableFact]
    public async Task An_expired_certificate_is_served_and_an_unreadable_one_closes_only_its_listener()
    {
        await postfix.EnsureStartedAsync();
        var dir = Directory.CreateTempSubdirectory("earlypipe-certdates-").FullName;
        try
        {
            var notAfter = new DateTimeOffset(2020, 2, 1, 0, 0, 0, TimeSpan.Zero);
            var certPath = Path.Combine(dir, "expired.pem");
            var keyPath = Path.Combine(dir, "expired.key");
            WriteSelfSigned("expired.test", notAfter.AddMonths(-1), notAfter, certPath, keyPath);
            var missing = Path.Combine(dir, "missing.pem");
            var metricsPort = Peers.FreePort();
            var brokenPort = Peers.FreePort();
            var sections = new Dictionary<string, object>
            {
                ["Metrics"] = new { Listen = $"127.0.0.1:{metricsPort}", ProbeInterval = "00:00:01" },
                ["Outbound"] = new[]
                {
                    new
                    {
                        Name = "broken-out",
                        Listen = $"127.0.0.1:{brokenPort}",
                        Upstream = $"127.0.0.1:{postfix.SmtpPort}",
                        SenderTls = new { CertificatePath = missing },
                    },
                },
            };
            await using var proxy = await ProxyProcess.StartAsync(output, [
                    new ListenerSpec("plain", postfix.SmtpPort),
                    new ListenerSpec("expired", postfix.SmtpPort) { Tls = new TlsMaterial(certPath, certPath, keyPath, certPath, "expired.test"), ImplicitTls = true },
                    new ListenerSpec("broken-in", postfix.SmtpPort) { Tls = new TlsMaterial(missing, missing, missing, missing, "broken.test"), ExpectListening = false },
                ], [], ehloCachePath: null, sections);

            output.WriteLine("proxy: " + await proxy.WaitForOutputAsync(
                l => l.Contains("listener I=broken-out NOT OPENED", StringComparison.Ordinal) && l.Contains(missing, StringComparison.Ordinal),
                "the unopened listener logged with its file"));
            output.WriteLine("proxy: " + await proxy.WaitForOutputAsync(
                l => l.Contains("certificate EXPIRED I=expired (CN=expired.test) on 2020-02-01", StringComparison.Ordinal), "the expired certificate logged"));
            output.WriteLine("proxy: " + await proxy.WaitForOutputAsync(
                l => l.Contains("listener I=broken-in NOT OPENED", StringComparison.Ordinal) && l.Contains(missing, StringComparison.Ordinal),
                "the unopened inbound listener logged with its file"));
            Assert.False(Peers.IsListening(brokenPort), "the outbound listener without its certificate was opened");
            Assert.False(Peers.IsListening(proxy["broken-in"].ListenPort), "the inbound listener without its certificate was opened");

            await using (var plain = await RawSmtpClient.ConnectAsync("127.0.0.1", proxy["plain"].ListenPort))
            {
                await plain.ExpectAsync(220);
                await plain.CommandAsync("EHLO plain.test", 250);
                await plain.CommandAsync("QUIT", 221);
            }

            var (subject, banner) = await TlsOnConnectAsync(proxy["expired"].ListenPort);
            Assert.Equal("CN=expired.test", subject);
            Assert.StartsWith("220", banner, StringComparison.Ordinal);

            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
            await Poll.UntilAsync(() => Peers.IsListening(metricsPort), "the metrics port");
            using (var health = await http.GetAsync($"http://127.0.0.1:{metricsPort}/healthz"))
            {
                var body = await health.Content.ReadAsStringAsync();
                output.WriteLine(body);
                Assert.Equal(HttpStatusCode.ServiceUnavailable, health.StatusCode);
                Assert.Contains("listener broken-out (outbound): down, not opened: certificate " + missing, body, StringComparison.Ordinal);
                Assert.Contains("listener broken-in (inbound): down, not opened: certificate " + missing, body, StringComparison.Ordinal);
                Assert.Contains("listener plain (inbound): up", body, StringComparison.Ordinal);
                Assert.Contains("listener expired (inbound): up", body, StringComparison.Ordinal);
            }

            var metrics = await http.GetStringAsync($"http://127.0.0.1:{metricsPort}/metrics");
            var expiry = metrics.Split('\n').FirstOrDefault(l => l.StartsWith("earlypipe_certificate_expiry_timestamp_seconds{", StringComparison.Ordinal));
            output.WriteLine("metric: " + expiry);
            Assert.NotNull(expiry);
            Assert.Contains("listener=\"expired\"", expiry, StringComparison.Ordinal);
            Assert.Contains("subject=\"CN=expired.test\"", expiry, StringComparison.Ordinal);
            Assert.Equal(notAfter.ToUnixTimeSeconds(), (long)double.Parse(expiry.Split(' ')[^1], System.Globalization.CultureInfo.InvariantCulture));

            await proxy.SignalAsync("HUP");
            await WaitForNewLineAsync(proxy, l => l.Contains("certificate EXPIRED I=expired", StringComparison.Ordinal), 1, "the expired certificate logged on reload");
            output.WriteLine("proxy: " + await proxy.WaitForOutputAsync(
                l => l.Contains("reload: Outbound:0 (broken-out) was not opened at start", StringComparison.Ordinal) && l.Contains("needs a restart", StringComparison.Ordinal),
                "the unopened listener's restart reminder"));
            Assert.Equal("CN=expired.test", (await TlsOnConnectAsync(proxy["expired"].ListenPort)).Subject);
            Assert.False(proxy.HasExited);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static bool IsSessionLine(string line) => line.Contains(" session ", StringComparison.Ordinal);

    private static bool OffersPipeConnect(SmtpReply ehlo) =>
        ehlo.Lines.Any(l => l.Length > 4 && l[4..].StartsWith("PIPECONNECT", StringComparison.OrdinalIgnoreCase));

    private static async Task<SmtpReply> SendLineAsync(RawSmtpClient client, string line)
    {
        await client.SendAsync(line + "\r\n");
        return await client.ReadReplyAsync() ?? throw new InvalidOperationException("connection closed after: " + line[..20]);
    }

    private async Task<bool> NewSessionOffersPipeConnectAsync(int port)
    {
        await using var client = await RawSmtpClient.ConnectAsync("127.0.0.1", port);
        try
        {
            await client.ExpectAsync(220);
            var offered = OffersPipeConnect(await client.CommandAsync("EHLO probe.test", 250));
            await client.CommandAsync("QUIT", 221);
            return offered;
        }
        finally
        {
            output.WriteLine(client.Transcript);
        }
    }

    private static async Task OneSessionAsync(int port)
    {
        await using var client = await RawSmtpClient.ConnectAsync("127.0.0.1", port);
        await client.ExpectAsync(220);
        await client.CommandAsync("EHLO levels.test", 250);
        await client.CommandAsync("QUIT", 221);
    }

    /// <summary>Waits for a line matching <paramref name="match"/> beyond the first <paramref name="seenBefore"/> such lines.</summary>
    private static Task<string> WaitForNewLineAsync(ProxyProcess proxy, Func<string, bool> match, int seenBefore, string what) =>
        Poll.UntilAsync(() => proxy.OutputLines.Where(match).Skip(seenBefore).FirstOrDefault(), "proxy output: " + what, TimeSpan.FromSeconds(10));

    private static async Task EditConfigAsync(ProxyProcess proxy, Action<JsonNode> edit)
    {
        var root = JsonNode.Parse(await File.ReadAllTextAsync(proxy.ConfigPath)) ?? throw new InvalidOperationException("empty config");
        edit(root);
        await File.WriteAllTextAsync(proxy.ConfigPath, root.ToJsonString());
    }

    private static void WriteSelfSigned(string name, DateTimeOffset notBefore, DateTimeOffset notAfter, string certPath, string keyPath)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=" + name, key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(name);
        request.CertificateExtensions.Add(san.Build());
        using var certificate = request.CreateSelfSigned(notBefore, notAfter);
        File.WriteAllText(certPath, certificate.ExportCertificatePem() + "\n");
        File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem());
    }

    /// <summary>A full TLS-on-connect handshake accepting any certificate: the subject presented and the banner after it.</summary>
    private static async Task<(string Subject, string Banner)> TlsOnConnectAsync(int port)
    {
        using var tcp = new TcpClient { NoDelay = true };
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        await tcp.ConnectAsync(IPAddress.Loopback, port, cts.Token);
        await using var tls = new SslStream(tcp.GetStream());
        await tls.AuthenticateAsClientAsync(
            new SslClientAuthenticationOptions
            {
                TargetHost = "expired.test",
                AllowTlsResume = false,
#pragma warning disable CA5359 // the point is which certificate is presented (an expired one), not whether it is trusted
                RemoteCertificateValidationCallback = (_, _, _, _) => true,
#pragma warning restore CA5359
            },
            cts.Token);
        var subject = tls.RemoteCertificate is { } c ? new X509Certificate2(c).Subject : "(no certificate)";
        using var reader = new StreamReader(tls, Encoding.ASCII, leaveOpen: true);
        var banner = await reader.ReadLineAsync(cts.Token) ?? string.Empty;
        if (banner.StartsWith("220", StringComparison.Ordinal))
        {
            await tls.WriteAsync("QUIT\r\n"u8.ToArray(), cts.Token);
            await reader.ReadLineAsync(cts.Token);
        }

        return (subject, banner);
    }
}
