using System.Diagnostics;
using System.Globalization;
using EarlyPipeProxy.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace EarlyPipeProxy.EndToEnd.Tests;

/// <summary>
/// STARTTLS toward the remote, proven from Exim 4.96's own log: P=esmtps and X= on its &lt;= line, '*' after the
/// cipher when the TLS session was resumed (log_selector +tls_resumption), L* when the client early-pipelined.
/// The sender is swaks, strictly lockstep and in cleartext to the proxy.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class OutboundTlsTests(ITestOutputHelper output)
{
    [SkippableFact]
    public async Task Opportunistic_STARTTLS_is_early_pipelined_after_the_first_session_and_resumes_the_TLS_session()
    {
        Peers.Require();
        await using var exim = await EximServer.StartAsync("obtls", new Dictionary<string, string> { ["EXIM_PIPE_CONNECT"] = "1", ["EXIM_TLS"] = "1" });
        await using var proxy = await StartProxyAsync(exim, new { Mode = "Opportunistic", VerifyCertificate = false }, out var port);
        var id = Ids.New("obtls");

        var lines = new List<string>();
        for (var i = 1; i <= 3; i++)
        {
            var mark = exim.Log.Mark();
            Assert.Equal(0, await SwaksAsync(port, $"{id}-{i}"));
            lines.Add(await exim.Log.WaitForLineAsync(mark, l => l.Contains(" <= ", StringComparison.Ordinal) && l.Contains($"{id}-{i}@", StringComparison.Ordinal), "Exim's <= line for message " + i));
        }

        output.WriteLine(string.Join('\n', lines));
        Assert.All(lines, line => Assert.Contains(" P=esmtps ", line, StringComparison.Ordinal));
        Assert.Contains(" L. ", lines[0], StringComparison.Ordinal);
        Assert.Contains(" L* ", lines[1], StringComparison.Ordinal);
        Assert.Contains(" L* ", lines[2], StringComparison.Ordinal);
        Assert.Matches(@" X=TLS1\.3:\S+\* ", lines[2]);
        // Exim delivers after it logged the reception: wait for the maildir.
        await Poll.UntilAsync(() => Enumerable.Range(1, 3).All(i => exim.Maildir.MessagesContaining($"{id}-{i}@").Count == 1),
            "each of the three messages delivered exactly once");
    }

    [SkippableFact]
    public async Task Required_TLS_toward_a_remote_without_STARTTLS_delivers_nothing_and_the_sender_gets_421()
    {
        Peers.Require();
        await using var exim = await EximServer.StartAsync("obnotls", new Dictionary<string, string> { ["EXIM_PIPE_CONNECT"] = "1" });
        await using var proxy = await StartProxyAsync(exim, new { Mode = "Required", VerifyCertificate = false }, out var port);
        var id = Ids.New("obreq");

        var (code, transcript) = await SwaksWithTranscriptAsync(port, id);

        Assert.NotEqual(0, code);
        Assert.Contains("421 4.7.10", transcript, StringComparison.Ordinal);
        Assert.Empty(exim.Maildir.MessagesContaining(id + "@"));
        Assert.DoesNotContain(exim.Log.ReadSince(0).Split('\n'), l => l.Contains(id, StringComparison.Ordinal) && l.Contains(" <= ", StringComparison.Ordinal));
    }

    /// <summary>
    /// The first session's cleartext EHLO reply is learnt; the second must not early-pipeline on it. Exim refuses every
    /// MAIL from this sender by ACL and logs each refusal, so a MAIL that reached it would show in its log.
    /// </summary>
    [SkippableFact]
    public async Task Required_TLS_holds_after_the_cleartext_EHLO_reply_was_cached_no_MAIL_reaches_Exim()
    {
        Peers.Require();
        await using var exim = await EximServer.StartAsync("obnotls2", new Dictionary<string, string>
        {
            ["EXIM_PIPE_CONNECT"] = "1",
            ["EXIM_REJECT_SENDER_PREFIX"] = "tripwire",
        });
        await using var proxy = await StartProxyAsync(exim, new { Mode = "Required", VerifyCertificate = false }, out var port);
        var id = Ids.New("obreq2");
        var mark = exim.Log.Mark();

        var run = await LockstepSender.SendAsync(new LockstepSendOptions
        {
            Port = port, To = [id + "@exim.test"], From = $"tripwire-{id}@legacy.test", Connections = 2, MessageIdPrefix = id,
        });
        output.WriteLine(run.ToString());
        output.WriteLine($"--- Exim log\n{exim.Log.ReadSince(mark)}\n--- proxy outbound lines\n{string.Join('\n', proxy.OutboundSessionLines)}");

        Assert.Equal(2, run.Connections.Count);
        foreach (var connection in run.Connections)
        {
            var ehlo = connection.Steps.Single(s => s.Command.StartsWith("EHLO ", StringComparison.Ordinal));
            Assert.True(ehlo.Reply?.StartsWith("421 4.7.10 ", StringComparison.Ordinal) == true, "EHLO should get 421 4.7.10:\n" + connection);
            Assert.DoesNotContain(connection.Steps, s => s.Command.StartsWith("MAIL", StringComparison.Ordinal));
        }

        // Both sessions reached Exim (its connection lines), yet none of them said MAIL or delivered anything.
        var log = exim.Log.ReadSince(mark);
        Assert.True(log.Split('\n').Count(l => l.Contains("SMTP connection from", StringComparison.Ordinal) && !l.Contains("closed", StringComparison.Ordinal)) >= 2, log);
        Assert.DoesNotContain("rejected MAIL", log, StringComparison.Ordinal);
        Assert.DoesNotContain(" <= ", log, StringComparison.Ordinal);
        Assert.Empty(exim.Maildir.MessagesContaining(id + "@"));
    }

    [SkippableFact]
    public async Task A_verified_certificate_with_the_wrong_name_falls_back_to_cleartext_when_opportunistic()
    {
        Peers.Require();
        var tls = await TlsMaterial.EnsureAsync();
        await using var exim = await EximServer.StartAsync("obverify", new Dictionary<string, string> { ["EXIM_PIPE_CONNECT"] = "1", ["EXIM_TLS"] = "1" });
        var id = Ids.New("obverify");

        await using (var verified = await StartProxyAsync(exim,
            new { Mode = "Opportunistic", VerifyCertificate = true, TrustedCaPath = tls.CaPath, ServerName = tls.CommonName }, out var goodPort))
        {
            var mark = exim.Log.Mark();
            Assert.Equal(0, await SwaksAsync(goodPort, id + "-good"));
            var line = await exim.Log.WaitForLineAsync(mark, l => l.Contains(" <= ", StringComparison.Ordinal) && l.Contains(id + "-good@", StringComparison.Ordinal), "the verified message");
            Assert.Contains(" P=esmtps ", line, StringComparison.Ordinal);
        }

        await using (var misnamed = await StartProxyAsync(exim,
            new { Mode = "Opportunistic", VerifyCertificate = true, TrustedCaPath = tls.CaPath, ServerName = "not-the-server.example" }, out var badPort))
        {
            var mark = exim.Log.Mark();
            Assert.Equal(0, await SwaksAsync(badPort, id + "-fallback"));
            var line = await exim.Log.WaitForLineAsync(mark, l => l.Contains(" <= ", StringComparison.Ordinal) && l.Contains(id + "-fallback@", StringComparison.Ordinal), "the fallback message");
            Assert.Contains(" P=esmtp ", line, StringComparison.Ordinal);
            Assert.DoesNotContain(" X=", line, StringComparison.Ordinal);
        }
    }

    [SkippableFact]
    public async Task A_sender_may_use_STARTTLS_to_the_proxy_and_the_message_still_leaves_early_pipelined()
    {
        Peers.Require();
        var tls = await TlsMaterial.EnsureAsync();
        await using var exim = await EximServer.StartAsync("obsendertls", new Dictionary<string, string> { ["EXIM_PIPE_CONNECT"] = "1" });
        var port = Peers.FreePort();
        var sections = new Dictionary<string, object>
        {
            ["Outbound"] = new[]
            {
                new
                {
                    Name = "tlsin",
                    Listen = $"127.0.0.1:{port}",
                    Upstream = $"127.0.0.1:{exim.Port}",
                    Tls = new { Mode = "None" },
                    SenderTls = new { tls.CertificatePath, tls.KeyPath },
                },
            },
        };
        await using var proxy = await ProxyProcess.StartAsync(output, sections);
        await Poll.UntilAsync(() => Peers.IsListening(port), "the outbound listener on " + port);
        var id = Ids.New("obsender");

        var lines = new List<string>();
        for (var i = 1; i <= 2; i++)
        {
            var mark = exim.Log.Mark();
            var (code, transcript) = await SmtplibStartTlsAsync(port, $"{id}-{i}");
            Assert.True(code == 0, "python smtplib with STARTTLS failed:\n" + transcript);
            Assert.Contains("TLSv1.3", transcript, StringComparison.Ordinal);
            lines.Add(await exim.Log.WaitForLineAsync(mark, l => l.Contains(" <= ", StringComparison.Ordinal) && l.Contains($"{id}-{i}@", StringComparison.Ordinal), "message " + i));
        }

        output.WriteLine(string.Join('\n', lines));
        Assert.Contains(" L. ", lines[0], StringComparison.Ordinal);
        Assert.Contains(" L* ", lines[1], StringComparison.Ordinal);
        await Poll.UntilAsync(() => exim.Maildir.MessagesContaining($"{id}-2@").Count == 1, "the second message delivered");
    }

    /// <summary>A sender that asks the proxy for STARTTLS (Python's smtplib; swaks here lacks Net::SSLeay).</summary>
    private async Task<(int Code, string Transcript)> SmtplibStartTlsAsync(int port, string id)
    {
        const string Script = """
            import smtplib, ssl, sys
            port, rcpt = int(sys.argv[1]), sys.argv[2]
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            with smtplib.SMTP("127.0.0.1", port, local_hostname="legacy.sender.test", timeout=30) as s:
                s.starttls(context=context)
                print(s.sock.version())
                s.ehlo("legacy.sender.test")
                refused = s.sendmail("sender@legacy.test", [rcpt], f"Subject: {rcpt}\r\n\r\nover TLS to the proxy\r\n")
                print("refused", refused)
            """;
        var psi = new ProcessStartInfo("python3") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(Script);
        psi.ArgumentList.Add(port.ToString(CultureInfo.InvariantCulture));
        psi.ArgumentList.Add(id + "@exim.test");
        using var process = Process.Start(psi)!;
        var transcript = await process.StandardOutput.ReadToEndAsync() + await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        output.WriteLine($"smtplib {id}: exit {process.ExitCode}\n{transcript}");
        return (process.ExitCode, transcript);
    }

    private Task<ProxyProcess> StartProxyAsync(EximServer exim, object tls, out int port)
    {
        port = Peers.FreePort();
        return StartProxyAsync(exim, tls, port);
    }

    private async Task<ProxyProcess> StartProxyAsync(EximServer exim, object tls, int port)
    {
        var sections = new Dictionary<string, object>
        {
            ["Outbound"] = new[]
            {
                new { Name = "tlsout", Listen = $"127.0.0.1:{port}", Upstream = $"127.0.0.1:{exim.Port}", Tls = tls, Timeouts = new { Command = "00:01:00" } },
            },
        };
        var proxy = await ProxyProcess.StartAsync(output, sections);
        await Poll.UntilAsync(() => Peers.IsListening(port), "the outbound listener on " + port);
        return proxy;
    }

    private async Task<int> SwaksAsync(int port, string id) => (await SwaksWithTranscriptAsync(port, id)).Code;

    private async Task<(int Code, string Transcript)> SwaksWithTranscriptAsync(int port, string id)
    {
        var psi = new ProcessStartInfo("swaks") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[]
        {
            "--server", "127.0.0.1", "--port", port.ToString(CultureInfo.InvariantCulture), "--helo", "legacy.sender.test",
            "--from", "sender@legacy.test", "--to", id + "@exim.test", "--header", $"Subject: {id}", "--timeout", "30",
        })
        {
            psi.ArgumentList.Add(arg);
        }

        using var process = Process.Start(psi)!;
        var transcript = await process.StandardOutput.ReadToEndAsync() + await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        output.WriteLine($"swaks {id}: exit {process.ExitCode}\n{transcript}");
        return (process.ExitCode, transcript);
    }
}
