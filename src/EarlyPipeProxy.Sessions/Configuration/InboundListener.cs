using System.Net;

namespace EarlyPipeProxy.Sessions.Configuration;

/// <summary>
/// A listener's options, checked and resolved once at start-up (endpoints parsed, host list compiled), plus its
/// live connection count.
/// </summary>
public sealed class InboundListener
{
    /// <param name="clientNames">The process's client-name lookups; <see cref="Inbound.ClientNameResolver.Shared"/> when not given.</param>
    public InboundListener(InboundListenerOptions options, Inbound.ClientNameResolver? clientNames = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        Options = options;
        ClientNames = clientNames ?? Inbound.ClientNameResolver.Shared;
        ListenEndPoint = EndPointParser.Parse(options.Listen, $"Inbound listener '{options.Name}' Listen");
        BackendEndPoint = EndPointParser.Parse(options.Backend.Address, $"Inbound listener '{options.Name}' Backend.Address");
        AdvertiseHosts = AddressList.Parse(options.PipeConnect.AdvertiseHosts ?? ["*"]);
        if (string.IsNullOrWhiteSpace(options.PipeConnect.Keyword) || options.PipeConnect.Keyword.Contains(' ', StringComparison.Ordinal))
        {
            throw new FormatException($"Inbound listener '{options.Name}': PipeConnect.Keyword must be one word.");
        }

        BackendHostName = EndPointParser.HostPart(options.Backend.Address);
        BackendTrustAnchors = TrustAnchors.Load(options.Backend.TrustedCaPath, $"Inbound listener '{options.Name}' Backend:TrustedCaPath");

        if (options.Tls.IsConfigured)
        {
            Certificates = new Tls.ServerCertificateProvider(options.Tls.CertificatePath!, options.Tls.KeyPath);
        }
        else if (options.ImplicitTls)
        {
            throw new FormatException($"Inbound listener '{options.Name}': ImplicitTls needs Tls:CertificatePath.");
        }

        if (options.Limits.MaxLineLength < 64 || options.Limits.MaxPipelinedCommands < 1 || options.Limits.MaxConnections < 1
            || options.Limits.MaxUnflushedReplyBytes < ListenerLimits.MinUnflushedReplyBytes)
        {
            throw new FormatException($"Inbound listener '{options.Name}': limits are too small.");
        }

        Connections = new ConnectionSlots(options.Limits.MaxConnections);
        options.Limits.ValidateAddressLimits($"Inbound listener '{options.Name}'");
        options.Timeouts.Validate($"Inbound listener '{options.Name}'");
        options.Trace.Validate($"Inbound listener '{options.Name}'");
        AddressLimits = new ClientAddressLimiter(options.Limits);
    }

    public InboundListenerOptions Options { get; }

    public string Name => Options.Name;

    public IPEndPoint ListenEndPoint { get; }

    public IPEndPoint BackendEndPoint { get; }

    public AddressList AdvertiseHosts { get; }

    /// <summary>The backend's host as configured: the name its certificate is checked against by default.</summary>
    public string BackendHostName { get; }

    /// <summary>Backend:TrustedCaPath loaded once; null means the system store.</summary>
    public System.Security.Cryptography.X509Certificates.X509Certificate2Collection? BackendTrustAnchors { get; }

    /// <summary>The certificate for STARTTLS and TLS-on-connect; null when the listener offers no TLS.</summary>
    public Tls.ServerCertificateProvider? Certificates { get; }

    /// <summary>Where XCLIENT's client names are looked up (shared by the process's listeners).</summary>
    public Inbound.ClientNameResolver ClientNames { get; }

    /// <summary>Enforces <see cref="ListenerLimits.MaxConnections"/>.</summary>
    public ConnectionSlots Connections { get; }

    /// <summary>Enforces the per-client-address limits (<see cref="ListenerLimits.MaxConnectionsPerAddress"/> and its rate).</summary>
    public ClientAddressLimiter AddressLimits { get; }
}
