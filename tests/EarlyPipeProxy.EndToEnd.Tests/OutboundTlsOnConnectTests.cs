using System.Text.Json.Nodes;
using EarlyPipeProxy.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace EarlyPipeProxy.EndToEnd.Tests;

/// <summary>
/// Tls:Mode OnConnect toward a port 465 style Exim 4.96 (tls_on_connect_ports, PIPECONNECT offered), proven from
/// Exim's own log: P=esmtps and X= on its &lt;= line, '*' after the cipher when the TLS session was resumed
/// (+tls_resumption), L. for a session that did not pipeline early and L* for one that did (+pipelining). The sender
/// is strictly lockstep and in cleartext to the proxy.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class OutboundTlsOnConnectTests(ITestOutputHelper output)
{
    [SkippableFact]
    public async Task The_first_session_learns_after_the_handshake_the_second_pipelines_early_on_a_resumed_TLS_session()
    {
        Peers.Require();
        var tls = await TlsMaterial.EnsureAsync();
        await using var exim = await EximServer.StartAsync("obsmtps", new Dictionary<string, string> { ["EXIM_PIPE_CONNECT"] = "1", ["EXIM_TLS_ON_CONNECT"] = "1" });
        await using var proxy = await StartProxyAsync(exim,
            new { Mode = "OnConnect", VerifyCertificate = true, TrustedCaPath = tls.CaPath, ServerName = tls.CommonName }, out var port);
        var id = Ids.New("obsmtps");
        var mark = exim.Log.Mark();

        var run = await LockstepSender.SendAsync(new LockstepSendOptions
        {
            Port = port, To = [id + "@exim.test"], From = "sender@legacy.test", Connections = 2, MessageIdPrefix = id,
        });
        output.WriteLine(run.ToString());
        Assert.True(run.AllDelivered, run.ToString());
        var messages = run.Messages.ToList();
        var lines = new List<string>();
        foreach (var message in messages)
        {
            lines.Add(await exim.Log.WaitForLineAsync(mark,
                l => l.Contains(" <= ", StringComparison.Ordinal) && l.Contains("id=" + message.MessageIdBare, StringComparison.Ordinal), "Exim's <= line for " + message.Id));
        }

        output.WriteLine($"--- Exim's <= lines\n{string.Join('\n', lines)}\n--- proxy outbound lines\n{string.Join('\n', proxy.OutboundSessionLines)}");

        // Exim received both over TLS; the first session was lockstep toward an offer of early pipelining, the
        // second sent EHLO, MAIL and RCPT straight after the handshake, on a TLS session resumed from an earlier one.
        Assert.Equal(2, lines.Count);
        Assert.All(lines, line => Assert.Contains(" P=esmtps ", line, StringComparison.Ordinal));
        Assert.All(lines, line => Assert.Matches(@" X=TLS1\.[23]:", line));
        Assert.Contains(" L. ", lines[0], StringComparison.Ordinal);
        Assert.Contains(" L* ", lines[1], StringComparison.Ordinal);
        Assert.Matches(@" X=TLS1\.[23]:\S+\* ", lines[1]);

        // The proxy's own lines say the same: UX= toward the remote, L* on the second (each written as its session
        // ends, which may be just after the sender had its 221).
        var outbound = await Poll.UntilAsync(
            () => proxy.OutboundSessionLines.Where(l => l.Contains(" UX=", StringComparison.Ordinal)).ToList() is { Count: 2 } both ? both : null,
            "the proxy's two outbound session lines");
        Assert.Contains(" L* ", outbound[1], StringComparison.Ordinal);
        Assert.Matches(@" UX=TLS1\.[23]:\S+\* ", outbound[1]);

        // The health probe of the fixed upstream did its handshake first, checked as the sessions check it.
        await proxy.WaitForOutputAsync(l => l.Contains("is up: TLS on connect TLS1.", StringComparison.Ordinal), "the probe's TLS-on-connect verdict");

        // Each message was delivered exactly once (Exim delivers after it logged the reception).
        await Poll.UntilAsync(() => messages.All(m => exim.Maildir.MessagesContaining(m.MessageIdBare).Count == 1),
            "each message delivered exactly once");
    }

    [SkippableFact]
    public async Task An_untrusted_certificate_gets_the_sender_421_and_nothing_reaches_Exim()
    {
        Peers.Require();
        var tls = await TlsMaterial.EnsureAsync();
        await using var exim = await EximServer.StartAsync("obsmtpsbad", new Dictionary<string, string> { ["EXIM_PIPE_CONNECT"] = "1", ["EXIM_TLS_ON_CONNECT"] = "1" });

        // Verification against the system store, which does not know the test CA.
        await using var proxy = await StartProxyAsync(exim, new { Mode = "OnConnect", VerifyCertificate = true, ServerName = tls.CommonName }, out var port);
        var id = Ids.New("obsmtpsbad");
        var mark = exim.Log.Mark();

        var run = await LockstepSender.SendAsync(new LockstepSendOptions
        {
            Port = port, To = [id + "@exim.test"], From = "sender@legacy.test", Connections = 1, MessageIdPrefix = id,
        });
        output.WriteLine(run.ToString());
        var log = exim.Log.ReadSince(mark);
        output.WriteLine($"--- Exim log\n{log}\n--- proxy outbound lines\n{string.Join('\n', proxy.OutboundSessionLines)}");

        // The sender's banner is the 421: there is no cleartext session to fall back to.
        var banner = run.Connections.Single().Steps[0];
        Assert.Equal(421, banner.Code);
        Assert.StartsWith("421 4.7.5 ", banner.Reply, StringComparison.Ordinal);
        Assert.False(run.AllDelivered);
        Assert.DoesNotContain(" <= ", log, StringComparison.Ordinal);
        Assert.Empty(exim.Maildir.MessagesContaining(id));
        await proxy.WaitForOutputAsync(l => l.Contains(" outbound ", StringComparison.Ordinal) && l.Contains("end=\"remote TLS failed\"", StringComparison.Ordinal),
            "the session line's end=\"remote TLS failed\"");

        // The health probe says why every session would fail.
        await proxy.WaitForOutputAsync(l => l.Contains("fails the probe: TLS handshake failed", StringComparison.Ordinal), "the probe's TLS failure");
    }

    /// <summary>
    /// Tls:Mode is reloadable: a listener that talks cleartext to the TLS-on-connect port gets no banner (Exim waits
    /// for a ClientHello) and its sender a 421; after SIGHUP with OnConnect the next session is delivered over TLS.
    /// </summary>
    [SkippableFact]
    public async Task Tls_Mode_OnConnect_set_by_SIGHUP_applies_to_the_next_session()
    {
        Peers.Require();
        await using var exim = await EximServer.StartAsync("obsmtpshup", new Dictionary<string, string> { ["EXIM_PIPE_CONNECT"] = "1", ["EXIM_TLS_ON_CONNECT"] = "1" });
        await using var proxy = await StartProxyAsync(exim, new { Mode = "Opportunistic" }, out var port, banner: "3s");
        var id = Ids.New("obsmtpshup");

        var before = await LockstepSender.SendAsync(new LockstepSendOptions { Port = port, To = [id + "@exim.test"], MessageIdPrefix = id + "-before" });
        output.WriteLine(before.ToString());
        Assert.False(before.AllDelivered);
        Assert.Equal(421, before.Connections.Single().Steps[0].Code);

        var root = JsonNode.Parse(await File.ReadAllTextAsync(proxy.ConfigPath))!;
        root["Outbound"]![0]!["Tls"] = new JsonObject { ["Mode"] = "OnConnect" };
        await File.WriteAllTextAsync(proxy.ConfigPath, root.ToJsonString());
        await proxy.SignalAsync("HUP");
        await proxy.WaitForOutputAsync(l => l.Contains("applied after SIGHUP", StringComparison.Ordinal), "the reload applied");
        var mark = exim.Log.Mark();

        var after = await LockstepSender.SendAsync(new LockstepSendOptions { Port = port, To = [id + "@exim.test"], MessageIdPrefix = id + "-after" });
        output.WriteLine(after.ToString());
        Assert.True(after.AllDelivered, after.ToString());
        var message = after.Messages.Single();
        var line = await exim.Log.WaitForLineAsync(mark,
            l => l.Contains(" <= ", StringComparison.Ordinal) && l.Contains("id=" + message.MessageIdBare, StringComparison.Ordinal), "Exim's <= line after the reload");
        Assert.Contains(" P=esmtps ", line, StringComparison.Ordinal);
    }

    private Task<ProxyProcess> StartProxyAsync(EximServer exim, object tls, out int port, string banner = "2m")
    {
        port = Peers.FreePort();
        return StartProxyAsync(exim, tls, port, banner);
    }

    private async Task<ProxyProcess> StartProxyAsync(EximServer exim, object tls, int port, string banner)
    {
        var sections = new Dictionary<string, object>
        {
            ["Outbound"] = new[]
            {
                new
                {
                    Name = "smtps", Listen = $"127.0.0.1:{port}", Upstream = $"127.0.0.1:{exim.Port}", Tls = tls,
                    Timeouts = new { Command = "00:01:00", Banner = banner },
                },
            },
        };
        var proxy = await ProxyProcess.StartAsync(output, sections);
        await Poll.UntilAsync(() => Peers.IsListening(port), "the outbound listener on " + port);
        return proxy;
    }
}
