using System.Net.Sockets;
using EarlyPipeProxy.Protocol.Replies;
using EarlyPipeProxy.Sessions.Configuration;
using EarlyPipeProxy.Sessions.Outbound;
using EarlyPipeProxy.Sessions.Tls;
using EarlyPipeProxy.Sessions.Upstream;
using Microsoft.Extensions.Logging.Abstractions;

namespace EarlyPipeProxy.Host.Hosting;

/// <summary>`earlypipe check HOST[:PORT]`: the probe's findings for a person. Exit 0 when the server greeted with 220.</summary>
public static class ServerCheck
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(30);

    /// <param name="tls">A TLS-on-connect server (port 465): the handshake first, checked as these options say.</param>
    public static async Task<int> RunAsync(string target, string heloName, TextWriter output, CheckTlsOptions? tls = null)
    {
        ArgumentNullException.ThrowIfNull(output);
        var address = target.Contains(':', StringComparison.Ordinal) && !target.EndsWith(']') ? target : target + ":25";
        try
        {
            var endPoint = EndPointParser.Parse(address, "check target");
            var tlsName = tls?.Name ?? EndPointParser.HostPart(address);
            var handshake = tls is null ? null : TlsClientOptions.Create(tlsName, tls.Verify, TrustAnchors.Load(tls.CaFile, "--ca-file"));
            using var limit = new CancellationTokenSource(Limit);
            using var connector = new SocketUpstreamConnector(NullLogger<SocketUpstreamConnector>.Instance);
            var result = await ServerProbe.ProbeAsync(connector, endPoint, heloName, limit.Token, handshake);
            await output.WriteLineAsync($"server:   {endPoint} (connect {Ms(result.ConnectTime)})");
            if (tls is not null)
            {
                await output.WriteLineAsync($"TLS:      {result.Tls} on connect, " + (tls.Verify
                    ? $"certificate verified for {tlsName} against {(tls.CaFile is null ? "the system store" : tls.CaFile)}"
                    : "certificate NOT verified (--no-verify)"));
            }

            await output.WriteLineAsync($"banner:   {result.BannerText.ReplaceLineEndings(" | ")} ({Ms(result.BannerTime)} from the start)");
            if (result.BannerCode != ReplyCode.ServiceReady)
            {
                await output.WriteLineAsync("early pipelining: no (the server did not greet with 220)");
                return 1;
            }

            var keywords = result.Capabilities is null ? "(EHLO refused: " + result.EhloCode + ")" : string.Join(", ", result.Capabilities.Keywords);
            await output.WriteLineAsync($"EHLO:     {keywords} ({Ms(result.EhloTime)})");
            await output.WriteLineAsync(result.OffersEarlyPipelining
                ? $"early pipelining: yes ({result.EarlyPipeKeyword} with PIPELINING)"
                : "early pipelining: no");
            return 0;
        }
        catch (Exception ex) when (ex is UpstreamUnavailableException or SocketException or IOException or FormatException or ArgumentException
            or OperationCanceledException or System.Security.Cryptography.CryptographicException)
        {
            await output.WriteLineAsync($"check {target}: {ex.Message}");
            return 1;
        }
    }

    private static string Ms(TimeSpan time) => time.TotalMilliseconds.ToString("0.0", System.Globalization.CultureInfo.InvariantCulture) + " ms";
}
