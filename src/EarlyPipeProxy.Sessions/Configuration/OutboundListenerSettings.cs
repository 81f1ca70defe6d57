using System.Net;
using System.Security.Cryptography.X509Certificates;
using EarlyPipeProxy.Sessions.Tls;

namespace EarlyPipeProxy.Sessions.Configuration;

/// <summary>
/// One generation of an outbound listener's settings, checked and resolved: what a session reads, from the one it
/// took at its start to its end, whatever a reload swaps in meanwhile.
/// </summary>
public sealed class OutboundListenerSettings
{
    /// <param name="options">The listener's options; never changed afterwards (a reload binds new ones).</param>
    /// <param name="senderCertificates">The loaded certificate for senders' STARTTLS, or null: none offered.</param>
    /// <exception cref="FormatException">A value that cannot work, naming the listener and the key.</exception>
    public OutboundListenerSettings(OutboundListenerOptions options, ServerCertificateProvider? senderCertificates)
    {
        ArgumentNullException.ThrowIfNull(options);
        Options = options;
        SenderCertificates = senderCertificates;
        var what = $"Outbound listener '{options.Name}'";
        ListenEndPoint = EndPointParser.Parse(options.Listen, what + " Listen");
        if (options.UseOriginalDestination == !string.IsNullOrWhiteSpace(options.Upstream))
        {
            throw new FormatException($"{what}: set exactly one of Upstream and UseOriginalDestination.");
        }

        if (options.UseOriginalDestination && options.Tls.Mode == OutboundTlsMode.OnConnect)
        {
            // A redirected connection was meant for a port its sender spoke cleartext SMTP to: not a TLS-on-connect one.
            throw new FormatException($"{what}: Tls:Mode OnConnect needs a fixed Upstream (a port 465 smarthost), not UseOriginalDestination.");
        }

        if (options.Upstream is { } upstream)
        {
            Upstream = EndPointParser.Parse(upstream, what + " Upstream");
            UpstreamHostName = EndPointParser.HostPart(upstream);
        }

        if (options.SourceAddress is { } source)
        {
            SourceAddress = IPAddress.TryParse(source, out var address)
                ? address
                : throw new FormatException($"{what}: SourceAddress '{source}' is not an IP address.");
        }

        foreach (var name in new[] { options.HostName, options.HeloName })
        {
            if (name is not null && (name.Length == 0 || name.AsSpan().IndexOfAny(" \r\n\0") >= 0))
            {
                throw new FormatException($"{what}: HostName and HeloName must be one word.");
            }
        }

        if (options.AllowedSenders is { } allowed)
        {
            AllowedSenders = AddressList.Parse(allowed);
        }

        TrustAnchors = Configuration.TrustAnchors.Load(options.Tls.TrustedCaPath, what + " Tls:TrustedCaPath");
        if (options.Limits.MaxLineLength < 64 || options.Limits.MaxConnections < 1 || options.Limits.MaxReplyLineLength < 64
            || options.Limits.MaxUnflushedReplyBytes < ListenerLimits.MinUnflushedReplyBytes)
        {
            throw new FormatException($"{what}: limits are too small.");
        }

        options.Limits.ValidateAddressLimits(what);
        options.Timeouts.Validate(what);
        options.Trace.Validate(what);
        options.ConnectionCache.Validate(what);
    }

    public OutboundListenerOptions Options { get; }

    public string Name => Options.Name;

    public IPEndPoint ListenEndPoint { get; }

    /// <summary>The fixed remote; null when each connection goes to its original destination.</summary>
    public IPEndPoint? Upstream { get; }

    /// <summary>The host of Upstream as configured: the default TLS server name.</summary>
    public string? UpstreamHostName { get; }

    public IPAddress? SourceAddress { get; }

    /// <summary>The senders relayed for; null: any.</summary>
    public AddressList? AllowedSenders { get; }

    /// <summary>Tls:TrustedCaPath loaded once per generation; null means the system store.</summary>
    public X509Certificate2Collection? TrustAnchors { get; }

    /// <summary>The certificate for senders' STARTTLS; null when the listener offers them none.</summary>
    public ServerCertificateProvider? SenderCertificates { get; }
}
