using System.Globalization;
using EarlyPipeProxy.Protocol.Capabilities;
using EarlyPipeProxy.Protocol.Replies;
using EarlyPipeProxy.Sessions.Configuration;
using EarlyPipeProxy.Sessions.Logging;
using EarlyPipeProxy.Sessions.Upstream;

namespace EarlyPipeProxy.Sessions.Outbound;

/// <summary>
/// The health probe of an outbound listener's fixed upstream: `earlypipe check`'s session (banner, EHLO, QUIT). Up
/// when it greets with 220 and answers EHLO with 250, and, when Tls:Mode is Required, offers STARTTLS, without which
/// the listener's sessions would give up. When Tls:Mode is OnConnect the handshake comes first, checked as sessions
/// check it (a failed one is down: every session would get 421 4.7.5). Outbound sessions introduce nobody (the proxy is the sender's own client),
/// so there is no identity mechanism to try.
/// </summary>
public static class FixedUpstreamProbe
{
    /// <summary>The EHLO name when the listener sets no HeloName (sessions then relay each sender's own).</summary>
    public const string DefaultHeloName = "earlypipe.healthcheck";

    /// <summary>
    /// Probes <paramref name="listener"/>'s fixed upstream within <paramref name="timeout"/>. Throws only
    /// OperationCanceledException, when <paramref name="cancellationToken"/> is cancelled.
    /// </summary>
    public static async Task<ProbeVerdict> ProbeAsync(IUpstreamConnector connector, OutboundListener listener, TimeSpan timeout, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(connector);
        ArgumentNullException.ThrowIfNull(listener);
        var upstream = listener.Upstream ?? throw new ArgumentException($"outbound listener '{listener.Name}' has no fixed upstream", nameof(listener));
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(timeout);
        var settings = listener.Settings;
        var tls = settings.Options.Tls.Mode == OutboundTlsMode.OnConnect
            ? Tls.TlsClientOptions.Create(RemoteTlsName.Configured(settings) ?? upstream.Address.ToString(), settings.Options.Tls.VerifyCertificate,
                settings.TrustAnchors)
            : null;
        ServerProbeResult result;
        try
        {
            result = await ServerProbe.ProbeAsync(connector, upstream, listener.Options.HeloName ?? DefaultHeloName, limit.Token, tls);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested && (ex is OperationCanceledException || limit.IsCancellationRequested))
        {
            return ProbeVerdict.Down($"no answer within {timeout.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture)}s");
        }
        catch (Exception ex) when (ex is UpstreamUnavailableException or IOException or System.Net.Sockets.SocketException)
        {
            return ProbeVerdict.Down(ex.Message);
        }

        if (result.BannerCode != ReplyCode.ServiceReady)
        {
            return ProbeVerdict.Down("banner: " + Printable.Of(result.BannerText));
        }

        if (result.EhloCode != ReplyCode.Ok)
        {
            return ProbeVerdict.Down($"EHLO refused with {result.EhloCode}");
        }

        if (listener.Options.Tls.Mode == OutboundTlsMode.Required && result.Capabilities?.Contains(SmtpKeywords.StartTls) != true)
        {
            return ProbeVerdict.Down("does not offer STARTTLS (Tls:Mode is Required)");
        }

        var secured = result.Tls is { } established ? "TLS on connect " + established + ", " : string.Empty;
        return ProbeVerdict.Up(secured + "banner 220, EHLO 250" + (result.EarlyPipeKeyword is { } keyword ? ", offers " + keyword : string.Empty));
    }
}
