using System.Buffers;
using System.Diagnostics;
using System.Net;
using System.Net.Security;
using EarlyPipeProxy.Protocol.Capabilities;
using EarlyPipeProxy.Protocol.Commands;
using EarlyPipeProxy.Protocol.Replies;
using EarlyPipeProxy.Sessions.Upstream;
using Microsoft.Extensions.Logging.Abstractions;

namespace EarlyPipeProxy.Sessions.Outbound;

/// <summary>
/// `earlypipe check` and the health prober: one polite lockstep session (greeting, EHLO, QUIT) that reports what the
/// server offers, the same facts the outbound proxy's cache would learn from it. It talks over the sessions' own
/// upstream connection, so its replies are framed by the same reader.
/// </summary>
public static class ServerProbe
{
    private const int MaxReplyLine = 4096;

    /// <summary>A probe over a connector of its own (the CLI, which has no host around it).</summary>
    public static async Task<ServerProbeResult> ProbeAsync(IPEndPoint endPoint, string heloName, CancellationToken cancellationToken)
    {
        using var connector = new SocketUpstreamConnector(NullLogger<SocketUpstreamConnector>.Instance);
        return await ProbeAsync(connector, endPoint, heloName, cancellationToken);
    }

    /// <summary>
    /// Probes <paramref name="endPoint"/>. A name that is no EHLO argument is refused (ArgumentException) before any
    /// connection is made; a server that cannot be reached or sends no proper reply raises
    /// <see cref="UpstreamUnavailableException"/>, as does a failed handshake with <paramref name="tlsOnConnect"/>.
    /// </summary>
    /// <param name="tlsOnConnect">A TLS-on-connect server (port 465 style): the handshake, with these checks, comes first.</param>
    public static async Task<ServerProbeResult> ProbeAsync(IUpstreamConnector connector, IPEndPoint endPoint, string heloName, CancellationToken cancellationToken,
        SslClientAuthenticationOptions? tlsOnConnect = null)
    {
        ArgumentNullException.ThrowIfNull(connector);
        var ehlo = new ArrayBufferWriter<byte>();
        SmtpCommandWriter.WriteEhlo(ehlo, heloName);

        var started = Stopwatch.GetTimestamp();
        var connection = await connector.ConnectAsync(endPoint, cancellationToken);
        await using (connection)
        {
            var connected = Stopwatch.GetElapsedTime(started);
            string? tls = null;
            if (tlsOnConnect is not null)
            {
                await connection.UpgradeToTlsAsync(tlsOnConnect, cancellationToken);
                tls = Tls.TlsDescription.Describe(connection.TlsStream!);
            }

            var banner = await connection.ReadReplyAsync(MaxReplyLine, cancellationToken);
            var bannerCode = banner.Code;
            var bannerText = Text(banner.Raw);
            connection.ReleaseReply();
            var bannerTime = Stopwatch.GetElapsedTime(started);
            if (bannerCode != ReplyCode.ServiceReady)
            {
                return new ServerProbeResult(bannerCode, bannerText, 0, null, null, connected, bannerTime, TimeSpan.Zero) { Tls = tls };
            }

            connection.Output.Write(ehlo.WrittenSpan);
            await connection.FlushAsync(cancellationToken);
            var ehloSent = Stopwatch.GetTimestamp();
            var reply = await connection.ReadReplyAsync(MaxReplyLine, cancellationToken);
            var ehloTime = Stopwatch.GetElapsedTime(ehloSent);
            var ehloCode = reply.Code;
            var parsed = EhloCapabilities.TryParse(reply.Raw, out var capabilities);
            connection.ReleaseReply();
            var keyword = parsed && EarlyPipeKeywords.OffersEarlyPipelining(capabilities!) ? EarlyPipeKeywords.FindKeyword(capabilities!) : null;

            SmtpCommandWriter.WriteQuit(connection.Output);
            await connection.FlushAsync(cancellationToken);
            return new ServerProbeResult(bannerCode, bannerText, ehloCode, capabilities, keyword, connected, bannerTime, ehloTime) { Tls = tls };
        }
    }

    private static string Text(in ReadOnlySequence<byte> raw) => System.Text.Encoding.Latin1.GetString(raw.ToArray()).TrimEnd('\r', '\n');
}
