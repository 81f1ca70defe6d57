using System.Net;
using System.Security.Cryptography.X509Certificates;
using EarlyPipeProxy.Sessions.Inbound;
using EarlyPipeProxy.Sessions.Tls;

namespace EarlyPipeProxy.Sessions.Configuration;

/// <summary>
/// One generation of an inbound listener's settings, checked and resolved (endpoints parsed, host lists compiled):
/// what a session reads, from the one it took at its start to its end, whatever a reload swaps in meanwhile.
/// </summary>
public sealed class InboundListenerSettings
{
    /// <param name="options">The listener's options; never changed afterwards (a reload binds new ones).</param>
    /// <param name="clientNames">The process's client-name lookups.</param>
    /// <param name="certificates">The loaded certificate, or null: no TLS is offered (or, with an unreadable one, the listener is not opened).</param>
    /// <exception cref="FormatException">A value that cannot work, naming the listener and the key.</exception>
    public InboundListenerSettings(InboundListenerOptions options, ClientNameResolver clientNames, ServerCertificateProvider? certificates)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(clientNames);
        Options = options;
        ClientNames = clientNames;
        Certificates = certificates;
        ListenEndPoint = EndPointParser.Parse(options.Listen, $"Inbound listener '{options.Name}' Listen");
        BackendEndPoint = EndPointParser.Parse(options.Backend.Address, $"Inbound listener '{options.Name}' Backend.Address");
        AdvertiseHosts = AddressList.Parse(options.PipeConnect.AdvertiseHosts ?? ["*"]);
        ProxyHeaderFrom = ParseBalancers(options);
        if (string.IsNullOrWhiteSpace(options.PipeConnect.Keyword) || options.PipeConnect.Keyword.Contains(' ', StringComparison.Ordinal))
        {
            throw new FormatException($"Inbound listener '{options.Name}': PipeConnect.Keyword must be one word.");
        }

        BackendHostName = EndPointParser.HostPart(options.Backend.Address);
        BackendTrustAnchors = TrustAnchors.Load(options.Backend.TrustedCaPath, $"Inbound listener '{options.Name}' Backend:TrustedCaPath");
        if ((options.Transparent || options.Backend.ClientIdentity == ClientIdentityMode.Transparent) && !OperatingSystem.IsLinux())
        {
            throw new FormatException($"Inbound listener '{options.Name}': Transparent and Backend:ClientIdentity Transparent (IP_TRANSPARENT) are Linux only.");
        }

        if (options.FastOpen && options.FastOpenQueueLength < 1)
        {
            throw new FormatException($"Inbound listener '{options.Name}': FastOpenQueueLength must be at least 1 (FastOpen false turns Fast Open off).");
        }

        if (options.ImplicitTls && !options.Tls.IsConfigured)
        {
            throw new FormatException($"Inbound listener '{options.Name}': ImplicitTls needs Tls:CertificatePath.");
        }

        if (options.Limits.MaxLineLength < 64 || options.Limits.MaxPipelinedCommands < 1 || options.Limits.MaxConnections < 1
            || options.Limits.MaxUnflushedReplyBytes < ListenerLimits.MinUnflushedReplyBytes)
        {
            throw new FormatException($"Inbound listener '{options.Name}': limits are too small.");
        }

        options.Limits.ValidateAddressLimits($"Inbound listener '{options.Name}'");
        options.Timeouts.Validate($"Inbound listener '{options.Name}'");
        options.Trace.Validate($"Inbound listener '{options.Name}'");
    }

    public InboundListenerOptions Options { get; }

    public string Name => Options.Name;

    public IPEndPoint ListenEndPoint { get; }

    public IPEndPoint BackendEndPoint { get; }

    public AddressList AdvertiseHosts { get; }

    /// <summary>
    /// The load balancers whose connections start with a PROXY header (<see cref="InboundListenerOptions.AcceptProxyHeaderFrom"/>);
    /// null when the listener takes none.
    /// </summary>
    public AddressList? ProxyHeaderFrom { get; }

    /// <summary>The backend's host as configured: the name its certificate is checked against by default.</summary>
    public string BackendHostName { get; }

    /// <summary>Backend:TrustedCaPath loaded once per generation; null means the system store.</summary>
    public X509Certificate2Collection? BackendTrustAnchors { get; }

    /// <summary>The certificate for STARTTLS and TLS-on-connect; null when the listener offers no TLS.</summary>
    public ServerCertificateProvider? Certificates { get; }

    /// <summary>Where XCLIENT's client names are looked up (shared by the process's listeners).</summary>
    public ClientNameResolver ClientNames { get; }

    /// <summary>The backend's XCLIENT offer as this generation's sessions last read it (a reload starts without one).</summary>
    internal XclientOfferMemory XclientOffer { get; } = new();

    private static AddressList? ParseBalancers(InboundListenerOptions options)
    {
        var entries = (options.AcceptProxyHeaderFrom ?? []).Where(e => !string.IsNullOrWhiteSpace(e) && e.Trim() != ":").ToArray();
        if (entries.Length == 0)
        {
            return null;
        }

        if (entries.Any(e => e.Trim() == "*"))
        {
            // A header is the peer's word for who the client is: from anyone, any client could name any address.
            throw new FormatException($"Inbound listener '{options.Name}': AcceptProxyHeaderFrom must name the load balancers, not '*'.");
        }

        try
        {
            return AddressList.Parse(entries);
        }
        catch (FormatException ex)
        {
            throw new FormatException($"Inbound listener '{options.Name}': AcceptProxyHeaderFrom: {ex.Message}", ex);
        }
    }
}
