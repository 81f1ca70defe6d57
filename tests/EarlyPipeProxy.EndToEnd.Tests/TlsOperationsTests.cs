using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.RegularExpressions;
using EarlyPipeProxy.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace EarlyPipeProxy.EndToEnd.Tests;

/// <summary>
/// Operating the proxy's TLS: certificates replaced on disk (file change and SIGHUP) while a session is open, a broken
/// certificate file, and STARTTLS toward a real Postfix with the backend's certificate verified against a private CA
/// (Backend:TrustedCaPath) or, without it, refused against the system store.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed partial class TlsOperationsTests(PostfixFixture postfix, ITestOutputHelper output)
{
    private static readonly TimeSpan ReloadTimeout = TimeSpan.FromSeconds(10);

    /// <summary>
    /// An ImplicitTls listener starts with a.reload.test. A session is opened (TLS, banner, EHLO). The files are
    /// overwritten with b.reload.test: new connections present b within ~10 s (file watcher), and the open session
    /// still completes its transaction, delivered by Postfix. Then a is written back and SIGHUP sent at once (before the
    /// watcher's debounce): the proxy logs the reload "after SIGHUP" with a's subject, stays alive, and presents a.
    /// Last, a garbage certificate file: "certificate reload failed" is logged and a is still served.
    /// </summary>
    [SkippableFact]
    public async Task Certificate_files_are_reloaded_on_change_and_SIGHUP_without_dropping_the_open_session()
    {
        await postfix.EnsureStartedAsync();
        var dir = Directory.CreateTempSubdirectory("earlypipe-reload-").FullName;
        try
        {
            var certPath = Path.Combine(dir, "cert.pem");
            var keyPath = Path.Combine(dir, "key.pem");
            var a = MakeSelfSigned("a.reload.test");
            var b = MakeSelfSigned("b.reload.test");
            await WritePairAsync(a, certPath, keyPath);
            var material = new TlsMaterial(certPath, certPath, keyPath, certPath, "a.reload.test");

            await using var proxy = await ProxyProcess.StartAsync(
                output, new ListenerSpec("smtps-reload", postfix.SmtpPort, "Xclient") { Tls = material, ImplicitTls = true });
            var port = proxy["smtps-reload"].ListenPort;
            var mark = postfix.Log.Mark();
            var id = Ids.New("reload");

            await using var session = await RawSmtpClient.ConnectAsync("127.0.0.1", port);
            try
            {
                var stream = await session.StartTlsAsync("a.reload.test");
                Assert.Equal("CN=a.reload.test", SubjectOf(stream));
                await session.ExpectAsync(220);
                await session.CommandAsync("EHLO reload.test", 250);

                // File-change path: overwrite in place, then new handshakes must pick up b.
                await WritePairAsync(b, certPath, keyPath);
                var presented = await PollPresentedSubjectAsync(port, "CN=b.reload.test", ReloadTimeout);
                output.WriteLine("after overwriting with b, new connections present " + presented);
                output.WriteLine("proxy: " + await proxy.WaitForOutputAsync(
                    l => l.Contains("certificate reloaded I=smtps-reload (CN=b.reload.test) after file change", StringComparison.Ordinal),
                    "the reload of b after the file change"));

                // The session opened with a goes on: its transaction is relayed and delivered.
                Assert.False(session.Closed, "the open session was closed by the reload:\n" + session.Transcript);
                await session.CommandAsync("MAIL FROM:<reload@client.test>", 250);
                await session.CommandAsync($"RCPT TO:<{PostfixFixture.Address(id)}>", 250);
                await session.CommandAsync("DATA", 354);
                await session.CommandAsync($"Subject: {id}\r\nX-Marker: {id}\r\n\r\nsent across a certificate reload\r\n.", 250);
                await session.CommandAsync("QUIT", 221);
            }
            finally
            {
                output.WriteLine(session.Transcript);
            }

            var stored = await postfix.Maildir.WaitForMessageAsync("X-Marker: " + id);
            Assert.Equal("sent across a certificate reload\n", Maildir.Body(stored));
            await postfix.WaitForSessionsToEndAsync(mark);

            // SIGHUP path: a back on disk and the signal sent right away, within the watcher's 1 s debounce, so the
            // reload that logs a's subject first is the SIGHUP's (the watcher's may follow; both load a).
            await WritePairAsync(a, certPath, keyPath);
            await SendSignalAsync(proxy.ProcessId, "HUP");
            var hupLine = await proxy.WaitForOutputAsync(
                l => l.Contains("certificate reloaded I=smtps-reload (CN=a.reload.test) after SIGHUP", StringComparison.Ordinal),
                "the reload after SIGHUP");
            output.WriteLine("proxy: " + hupLine);
            var presentedAfterHup = await PollPresentedSubjectAsync(port, "CN=a.reload.test", ReloadTimeout);
            Assert.Equal("CN=a.reload.test", presentedAfterHup);
            await Task.Delay(1500); // let a watcher reload (and anything SIGHUP might still do) happen
            Assert.False(proxy.HasExited, "the proxy exited after SIGHUP:\n" + string.Join('\n', proxy.OutputLines));
            Assert.Equal("CN=a.reload.test", await PresentedSubjectAsync(port));

            // A broken certificate file: logged, and the current certificate (a) stays.
            var failedBefore = proxy.OutputLines.Count(l => l.Contains("certificate reload failed", StringComparison.Ordinal));
            await File.WriteAllTextAsync(certPath, "-----BEGIN CERTIFICATE-----\nthis is not base64 at all!!\n-----END CERTIFICATE-----\n");
            await Poll.UntilAsync(
                () => proxy.OutputLines.Count(l => l.Contains("certificate reload failed I=smtps-reload after file change", StringComparison.Ordinal)) > failedBefore,
                "proxy output: certificate reload failed after the garbage certificate file",
                ReloadTimeout);
            output.WriteLine("proxy: " + proxy.OutputLines.Last(l => l.Contains("certificate reload failed", StringComparison.Ordinal)));
            Assert.Equal("CN=a.reload.test", await PresentedSubjectAsync(port));
            Assert.False(proxy.HasExited, "the proxy exited after a broken certificate file");

            // And SIGHUP with the broken file: same, no crash.
            await SendSignalAsync(proxy.ProcessId, "HUP");
            await proxy.WaitForOutputAsync(
                l => l.Contains("certificate reload failed I=smtps-reload after SIGHUP", StringComparison.Ordinal),
                "certificate reload failed after SIGHUP");
            Assert.Equal("CN=a.reload.test", await PresentedSubjectAsync(port));
            Assert.False(proxy.HasExited, "the proxy exited after SIGHUP with a broken certificate file");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>
    /// Backend:Tls StartTls with VerifyCertificate and the test CA as TrustedCaPath, TlsServerName a name the Postfix
    /// certificate covers, XCLIENT: a cleartext client (from 127.0.0.4) sends a message; Postfix logs a TLS connection
    /// for the smtpd process that also logs client=...[127.0.0.4], and its Received header says "using TLS".
    /// </summary>
    [SkippableFact]
    public async Task Backend_STARTTLS_verified_against_the_trusted_CA_carries_the_message_to_Postfix()
    {
        await postfix.EnsureStartedAsync();
        var tls = await TlsMaterial.EnsureAsync();
        await using var proxy = await ProxyProcess.StartAsync(
            output,
            new ListenerSpec("smtp-btls", postfix.SmtpPort, "Xclient")
            {
                BackendTls = "StartTls",
                BackendVerifyCertificate = true,
                BackendTrustedCaPath = tls.CaPath,
                BackendTlsServerName = tls.CommonName,
            });
        var mark = postfix.Log.Mark();
        var id = Ids.New("btls");
        const string clientAddress = "127.0.0.4";

        await using (var c = await RawSmtpClient.ConnectAsync("127.0.0.1", proxy["smtp-btls"].ListenPort, clientAddress))
        {
            try
            {
                await c.ExpectAsync(220);
                var ehlo = await c.CommandAsync("EHLO btls.client.test", 250);
                Assert.DoesNotContain(ehlo.Lines, l => l.Length > 4 && l[4..].StartsWith("STARTTLS", StringComparison.OrdinalIgnoreCase));
                await c.CommandAsync("MAIL FROM:<btls@client.test>", 250);
                await c.CommandAsync($"RCPT TO:<{PostfixFixture.Address(id)}>", 250);
                await c.CommandAsync("DATA", 354);
                await c.CommandAsync($"Subject: {id}\r\nX-Marker: {id}\r\n\r\nover TLS to the backend\r\n.", 250);
                await c.CommandAsync("QUIT", 221);
            }
            finally
            {
                output.WriteLine(c.Transcript);
            }
        }

        var stored = await postfix.Maildir.WaitForMessageAsync("X-Marker: " + id);
        Assert.Equal("over TLS to the backend\n", Maildir.Body(stored));
        await postfix.WaitForSessionsToEndAsync(mark);
        var lines = postfix.Log.LinesSince(mark);
        foreach (var l in lines)
        {
            output.WriteLine("postfix: " + l);
        }

        var clientLine = lines.FirstOrDefault(l => l.Contains(": client=", StringComparison.Ordinal) && l.Contains($"[{clientAddress}]", StringComparison.Ordinal));
        Assert.True(clientLine is not null, $"Postfix logged no client=...[{clientAddress}] (XCLIENT)");
        var pid = SmtpdPid(clientLine);
        Assert.Contains(lines, l => SmtpdPid(l) == pid && l.Contains("TLS connection established from", StringComparison.Ordinal));
        var received = Maildir.FirstHeader(stored, "Received") ?? string.Empty;
        output.WriteLine("Received: " + received);
        Assert.Contains($"[{clientAddress}]", received, StringComparison.Ordinal);
        Assert.Contains("using TLS", received, StringComparison.Ordinal);

        var sessionLine = await proxy.WaitForOutputAsync(l => l.Contains(" session ", StringComparison.Ordinal), "the session line");
        output.WriteLine("proxy session line: " + sessionLine);
    }

    /// <summary>
    /// The same with a backend certificate the proxy must not accept: no TrustedCaPath (the system store does not
    /// know the test CA), or the right CA but a TlsServerName the certificate does not cover. The client gets
    /// 421 4.4.2 before any banner, and Postfix never sees a MAIL FROM of that session nor delivers anything.
    /// </summary>
    [SkippableTheory]
    [InlineData("system-trust")]
    [InlineData("wrong-name")]
    public async Task Backend_STARTTLS_with_an_unverifiable_certificate_fails_with_421_and_nothing_reaches_Postfix(string variant)
    {
        await postfix.EnsureStartedAsync();
        var tls = await TlsMaterial.EnsureAsync();
        var spec = new ListenerSpec("smtp-btls-bad", postfix.SmtpPort, "Xclient")
        {
            BackendTls = "StartTls",
            BackendVerifyCertificate = true,
            BackendTrustedCaPath = variant == "wrong-name" ? tls.CaPath : null,
            BackendTlsServerName = variant == "wrong-name" ? "not-covered.earlypipe.test" : tls.CommonName,
        };
        await using var proxy = await ProxyProcess.StartAsync(output, spec);
        var mark = postfix.Log.Mark();
        var id = Ids.New("btls-bad");

        var replies = new List<SmtpReply>();
        await using (var c = await RawSmtpClient.ConnectAsync("127.0.0.1", proxy["smtp-btls-bad"].ListenPort, "127.0.0.4"))
        {
            try
            {
                var first = await c.ReadReplyAsync();
                if (first is not null)
                {
                    replies.Add(first);
                }

                if (first?.Code == 220)
                {
                    // The proxy went on without a verified backend: try to get a message through, so that the checks
                    // below see what that would have cost.
                    foreach (var line in new[] { "EHLO bad.client.test", "MAIL FROM:<bad@client.test>", $"RCPT TO:<{PostfixFixture.Address(id)}>", "DATA" })
                    {
                        await c.SendAsync(line + "\r\n");
                        if (await c.ReadReplyAsync() is { } r)
                        {
                            replies.Add(r);
                        }
                    }

                    if (replies[^1].Code == 354)
                    {
                        await c.SendAsync($"Subject: {id}\r\nX-Marker: {id}\r\n\r\nmust not arrive\r\n.\r\nQUIT\r\n");
                    }
                }

                replies.AddRange(await c.ReadRepliesUntilCloseAsync(TimeSpan.FromSeconds(5)));
            }
            finally
            {
                output.WriteLine(c.Transcript);
            }
        }

        await postfix.WaitForSessionsToEndAsync(mark);
        var lines = postfix.Log.LinesSince(mark); // the proxy's sessions only (the sentinel below is not one of them)
        await postfix.SettleAsync();
        foreach (var l in lines)
        {
            output.WriteLine("postfix: " + l);
        }

        foreach (var l in proxy.OutputLines)
        {
            output.WriteLine("proxy: " + l);
        }

        Assert.Empty(postfix.Maildir.MessagesContaining("X-Marker: " + id));
        Assert.DoesNotContain(lines, l => l.Contains(": client=", StringComparison.Ordinal) && l.Contains("[127.0.0.4]", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, l => l.Contains("disconnect from", StringComparison.Ordinal) && l.Contains(" mail=", StringComparison.Ordinal));
        // Informational: whether Postfix saw its side of the handshake complete depends on when the client aborts.
        output.WriteLine("Postfix logged an established TLS connection: " + lines.Any(l => l.Contains("TLS connection established from", StringComparison.Ordinal)));

        Assert.True(replies.Count > 0, "the proxy closed without a reply");
        Assert.True(
            replies[0].Code == 421 && replies[0].Text.Contains("4.4.2", StringComparison.Ordinal),
            "the first reply should be 421 4.4.2 (backend TLS not verified), got:\n" + string.Join('\n', replies.Select(r => r.Text)));
        Assert.DoesNotContain(replies, r => r.Code is 220 or 250 or 354);
    }

    private static (X509Certificate2 Cert, string KeyPem) MakeSelfSigned(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=" + name, key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(name);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        return (cert, key.ExportPkcs8PrivateKeyPem());
    }

    /// <summary>Overwrites both files in place (as `cp new.pem cert.pem` would): key first, then certificate.</summary>
    private static async Task WritePairAsync((X509Certificate2 Cert, string KeyPem) pair, string certPath, string keyPath)
    {
        await File.WriteAllTextAsync(keyPath, pair.KeyPem);
        await File.WriteAllTextAsync(certPath, pair.Cert.ExportCertificatePem() + "\n");
    }

    private static string SubjectOf(SslStream stream) =>
        stream.RemoteCertificate is { } c ? new X509Certificate2(c).Subject : "(no certificate)";

    /// <summary>
    /// A new TLS-on-connect connection: the certificate presented in a full handshake (the client keeps no TLS
    /// session, so a resumed one cannot show an old certificate), then banner and QUIT.
    /// </summary>
    private static async Task<string> PresentedSubjectAsync(int port)
    {
        using var tcp = new TcpClient { NoDelay = true };
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        await tcp.ConnectAsync(IPAddress.Loopback, port, cts.Token);
        await using var tls = new SslStream(tcp.GetStream());
        await tls.AuthenticateAsClientAsync(
            new SslClientAuthenticationOptions
            {
                TargetHost = "reload.test",
                AllowTlsResume = false,
#pragma warning disable CA5359 // the point is which certificate is presented, not whether it is trusted
                RemoteCertificateValidationCallback = (_, _, _, _) => true,
#pragma warning restore CA5359
            },
            cts.Token);
        var subject = SubjectOf(tls);
        using var reader = new StreamReader(tls, Encoding.ASCII, leaveOpen: true);
        var banner = await reader.ReadLineAsync(cts.Token);
        if (banner is not null && banner.StartsWith("220", StringComparison.Ordinal))
        {
            await tls.WriteAsync("QUIT\r\n"u8.ToArray(), cts.Token);
            await reader.ReadLineAsync(cts.Token);
        }

        return subject;
    }

    private async Task<string> PollPresentedSubjectAsync(int port, string expected, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        var seen = new List<string>();
        while (true)
        {
            var subject = await PresentedSubjectAsync(port);
            seen.Add(subject);
            if (subject == expected)
            {
                return subject;
            }

            if (DateTime.UtcNow > deadline)
            {
                output.WriteLine("subjects presented while polling: " + string.Join(", ", seen));
                throw new TimeoutException($"new connections still present {subject}, not {expected}, after {timeout}");
            }

            await Task.Delay(250);
        }
    }

    private static async Task SendSignalAsync(int pid, string signal)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", ["-" + signal, pid.ToString(System.Globalization.CultureInfo.InvariantCulture)])
        {
            UseShellExecute = false,
        }) ?? throw new InvalidOperationException("cannot run kill");
        await kill.WaitForExitAsync();
        Assert.Equal(0, kill.ExitCode);
    }

    private static string? SmtpdPid(string line) =>
        SmtpdPidRegex().Match(line) is { Success: true } m ? m.Groups[1].Value : null;

    [GeneratedRegex(@"/smtpd\[(\d+)\]:")]
    private static partial Regex SmtpdPidRegex();
}
