using System.Net;
using System.Security.Cryptography.X509Certificates;

namespace EarlyPipeProxy.Sessions.Configuration;

/// <summary>An outbound listener's options, checked and resolved once at start-up, plus its live connection count.</summary>
public sealed class OutboundListener
{
    public OutboundListener(OutboundListenerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        Options = options;
        var what = $"Outbound listener '{options.Name}'";
        ListenEndPoint = EndPointParser.Parse(options.Listen, what + " Listen");
        if (options.UseOriginalDestination == !string.IsNullOrWhiteSpace(options.Upstream))
        {
            throw new FormatException($"{what}: set exactly one of Upstream and UseOriginalDestination.");
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

        Connections = new ConnectionSlots(options.Limits.MaxConnections);
        options.Limits.ValidateAddressLimits(what);
        options.Timeouts.Validate(what);
        options.Trace.Validate(what);
        AddressLimits = new ClientAddressLimiter(options.Limits);
        if (options.SenderTls.IsConfigured)
        {
            SenderCertificates = new Tls.ServerCertificateProvider(options.SenderTls.CertificatePath!, options.SenderTls.KeyPath);
        }
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

    /// <summary>Tls:TrustedCaPath loaded once; null means the system store.</summary>
    public X509Certificate2Collection? TrustAnchors { get; }

    public ConnectionSlots Connections { get; }

    /// <summary>Enforces the per-client-address limits (<see cref="ListenerLimits.MaxConnectionsPerAddress"/> and its rate).</summary>
    public ClientAddressLimiter AddressLimits { get; }

    /// <summary>The certificate for senders' STARTTLS; null when the listener offers them none.</summary>
    public Tls.ServerCertificateProvider? SenderCertificates { get; }
}
