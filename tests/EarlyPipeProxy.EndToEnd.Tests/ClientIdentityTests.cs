using EarlyPipeProxy.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace EarlyPipeProxy.EndToEnd.Tests;

/// <summary>Test 2: Postfix sees the real client address (XCLIENT, PROXY v2) and applies its relay policy to it.</summary>
[Collection(EndToEndCollection.Name)]
public sealed class ClientIdentityTests(PostfixFixture postfix, ITestOutputHelper output)
{
    [SkippableTheory]
    [InlineData("Xclient")]
    [InlineData("ProxyV2")]
    public async Task Postfix_records_the_original_client_address(string mode)
    {
        await postfix.EnsureStartedAsync();
        await using var proxy = await ProxyProcess.StartAsync(output, Listener(mode));
        var id = Ids.New("ident-" + mode.ToLowerInvariant());
        var mark = postfix.Log.Mark();

        var result = await EximClient.SendAsync(
            new EximSendOptions { ToPort = proxy["smtp"].ListenPort, Interface = "127.0.0.2", ResetCache = true },
            Messages.Simple(id),
            PostfixFixture.Address(id));
        output.WriteLine(result.ToString());
        Assert.True(result.Delivered, result.ToString());

        var stored = await postfix.Maildir.WaitForMessageAsync("X-Marker: " + id);
        var received = Maildir.FirstHeader(stored, "Received") ?? "(no Received header)";
        output.WriteLine("Postfix's Received header: " + received);
        Assert.Contains("[127.0.0.2]", received, StringComparison.Ordinal);
        Assert.DoesNotContain("[127.0.0.1]", received, StringComparison.Ordinal);
        await postfix.Log.WaitForLineAsync(mark, l => l.Contains("client=", StringComparison.Ordinal) && l.Contains("[127.0.0.2]", StringComparison.Ordinal), "client=...[127.0.0.2]");
    }

    [SkippableTheory]
    [InlineData("Xclient")]
    [InlineData("ProxyV2")]
    public async Task Relaying_is_refused_for_a_client_outside_mynetworks(string mode)
    {
        await postfix.EnsureStartedAsync();
        await using var proxy = await ProxyProcess.StartAsync(output, Listener(mode));
        var id = Ids.New("relay-" + mode.ToLowerInvariant());
        var mark = postfix.Log.Mark();

        var reply = await TryRelayAsync(proxy["smtp"].ListenPort, id);

        Assert.Equal(554, reply.Code);
        Assert.Contains("Relay access denied", reply.Text, StringComparison.Ordinal);
        await postfix.Log.WaitForLineAsync(
            mark,
            l => l.Contains("[127.0.0.3]: 554 5.7.1", StringComparison.Ordinal) && l.Contains(id, StringComparison.Ordinal),
            "Postfix's relay refusal for 127.0.0.3");
    }

    /// <summary>
    /// Control: without identity forwarding Postfix sees the proxy's 127.0.0.1, which is in mynetworks, so the
    /// relay check passes (the recipient only fails later because this backend has no outbound transport).
    /// </summary>
    [SkippableFact]
    public async Task Control_without_client_identity_Postfix_treats_the_outsider_as_trusted()
    {
        await postfix.EnsureStartedAsync();
        await using var proxy = await ProxyProcess.StartAsync(output, Listener("None"));
        var id = Ids.New("relay-none");
        var mark = postfix.Log.Mark();

        var reply = await TryRelayAsync(proxy["smtp"].ListenPort, id);

        Assert.DoesNotContain("Relay access denied", reply.Text, StringComparison.Ordinal);
        var line = await postfix.Log.WaitForLineAsync(mark, l => l.Contains(id, StringComparison.Ordinal) && l.Contains("reject: RCPT", StringComparison.Ordinal), "the RCPT result");
        Assert.Contains("[127.0.0.1]", line, StringComparison.Ordinal);
        Assert.Contains("relays nothing", line, StringComparison.Ordinal);
    }

    private ListenerSpec Listener(string mode) =>
        new("smtp", mode == "ProxyV2" ? postfix.ProxyProtocolPort : postfix.SmtpPort, mode);

    private Task<SmtpReply> TryRelayAsync(int port, string id) => RawSmtpClient.TryRelayAsync(port, "127.0.0.3", id, output);
}
