using EarlyPipeProxy.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace EarlyPipeProxy.EndToEnd.Tests;

/// <summary>`earlypipe check HOST:PORT` against real servers: who offers early pipelining and who does not.</summary>
[Collection(EndToEndCollection.Name)]
public sealed class CheckCommandTests(PostfixFixture postfix, ITestOutputHelper output)
{
    [SkippableFact]
    public async Task Check_Postfix_ShowsItsKeywordsAndNoEarlyPipelining()
    {
        await postfix.EnsureStartedAsync();

        var (exit, text) = await CheckAsync($"127.0.0.1:{postfix.SmtpPort}");

        Assert.Equal(0, exit);
        Assert.Contains("(Postfix)", text, StringComparison.Ordinal);
        Assert.Contains("PIPELINING", text, StringComparison.Ordinal);
        Assert.Contains("early pipelining: no", text, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Check_EximWithPipeConnect_AndTheProxyInFrontOfPostfix_OfferEarlyPipelining()
    {
        await postfix.EnsureStartedAsync();
        await using var exim = await EximServer.StartAsync("e2e-check", new Dictionary<string, string> { ["EXIM_PIPE_CONNECT"] = "1" });
        await using var proxy = await ProxyProcess.StartAsync(output, new ListenerSpec("smtp", postfix.SmtpPort, "Xclient"));

        var (eximExit, eximText) = await CheckAsync($"127.0.0.1:{exim.Port}");
        var (proxyExit, proxyText) = await CheckAsync($"127.0.0.1:{proxy["smtp"].ListenPort}");

        Assert.Equal(0, eximExit);
        Assert.Contains("Exim", eximText, StringComparison.Ordinal);
        Assert.Contains("early pipelining: yes (PIPECONNECT with PIPELINING)", eximText, StringComparison.Ordinal);
        Assert.Equal(0, proxyExit);
        Assert.Contains("(Postfix)", proxyText, StringComparison.Ordinal);
        Assert.Contains("early pipelining: yes (PIPECONNECT with PIPELINING)", proxyText, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Check_TlsOnConnect_HandshakesFirst_VerifiesTheCertificate_AndSeesEarlyPipelining()
    {
        Peers.Require();
        var tls = await TlsMaterial.EnsureAsync();
        await using var exim = await EximServer.StartAsync("e2e-check465", new Dictionary<string, string> { ["EXIM_PIPE_CONNECT"] = "1", ["EXIM_TLS_ON_CONNECT"] = "1" });
        var target = $"127.0.0.1:{exim.Port}";

        var (exit, text) = await CheckAsync(target, "--tls-on-connect", "--tls-name", tls.CommonName, "--ca-file", tls.CaPath);
        var (systemExit, systemText) = await CheckAsync(target, "--tls-on-connect", "--tls-name", tls.CommonName);
        var (anyExit, anyText) = await CheckAsync(target, "--tls-on-connect", "--no-verify");

        Assert.Equal(0, exit);
        Assert.Matches($@"TLS:      TLS1\.[23]:\S+ on connect, certificate verified for {System.Text.RegularExpressions.Regex.Escape(tls.CommonName)} against ", text);
        Assert.Contains("Exim", text, StringComparison.Ordinal);
        Assert.Contains("early pipelining: yes (PIPECONNECT with PIPELINING)", text, StringComparison.Ordinal);
        // The test CA is in no system store: the handshake fails, and says why.
        Assert.Equal(1, systemExit);
        Assert.Contains("TLS handshake failed", systemText, StringComparison.Ordinal);
        Assert.Equal(0, anyExit);
        Assert.Contains("certificate NOT verified (--no-verify)", anyText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Check_NothingListening_ExitsOneWithTheReason()
    {
        var (exit, text) = await CheckAsync($"127.0.0.1:{Peers.FreePort()}");

        Assert.Equal(1, exit);
        Assert.Contains("refused", text, StringComparison.OrdinalIgnoreCase);
    }

    private async Task<(int Exit, string Text)> CheckAsync(string target, params string[] options)
    {
        var (exit, stdout, stderr) = await EarlypipeCommand.RunAsync(output, ["check", target, .. options]);
        return (exit, stdout + stderr);
    }
}
