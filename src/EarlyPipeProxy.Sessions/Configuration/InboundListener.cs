using System.Net;

namespace EarlyPipeProxy.Sessions.Configuration;

/// <summary>
/// A listener's options, checked and resolved once at start-up (endpoints parsed, host list compiled), plus the
/// live connection count that enforces <see cref="InboundLimits.MaxConnections"/>.
/// </summary>
public sealed class InboundListener
{
    private int _connections;

    public InboundListener(InboundListenerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        Options = options;
        ListenEndPoint = EndPointParser.Parse(options.Listen, $"Inbound listener '{options.Name}' Listen");
        BackendEndPoint = EndPointParser.Parse(options.Backend.Address, $"Inbound listener '{options.Name}' Backend.Address");
        AdvertiseHosts = AddressList.Parse(options.PipeConnect.AdvertiseHosts ?? ["*"]);
        if (string.IsNullOrWhiteSpace(options.PipeConnect.Keyword) || options.PipeConnect.Keyword.Contains(' ', StringComparison.Ordinal))
        {
            throw new FormatException($"Inbound listener '{options.Name}': PipeConnect.Keyword must be one word.");
        }

        BackendHostName = HostPart(options.Backend.Address);
        if (!string.IsNullOrWhiteSpace(options.Backend.TrustedCaPath))
        {
            var anchors = new System.Security.Cryptography.X509Certificates.X509Certificate2Collection();
            anchors.ImportFromPemFile(options.Backend.TrustedCaPath);
            if (anchors.Count == 0)
            {
                throw new FormatException($"Inbound listener '{options.Name}': no certificate in Backend:TrustedCaPath {options.Backend.TrustedCaPath}.");
            }

            BackendTrustAnchors = anchors;
        }

        if (options.Tls.IsConfigured)
        {
            Certificates = new Tls.ServerCertificateProvider(options.Tls.CertificatePath!, options.Tls.KeyPath);
        }
        else if (options.ImplicitTls)
        {
            throw new FormatException($"Inbound listener '{options.Name}': ImplicitTls needs Tls:CertificatePath.");
        }

        if (options.Limits.MaxLineLength < 64 || options.Limits.MaxPipelinedCommands < 1 || options.Limits.MaxConnections < 1)
        {
            throw new FormatException($"Inbound listener '{options.Name}': limits are too small.");
        }
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

    public int ActiveConnections => Volatile.Read(ref _connections);

    /// <summary>Counts a new connection; false (and nothing counted) when the listener is full.</summary>
    public bool TryEnter()
    {
        if (Interlocked.Increment(ref _connections) <= Options.Limits.MaxConnections)
        {
            return true;
        }

        Interlocked.Decrement(ref _connections);
        return false;
    }

    public void Leave() => Interlocked.Decrement(ref _connections);

    private static string HostPart(string address)
    {
        var colon = address.LastIndexOf(':');
        return (colon > 0 ? address[..colon] : address).Trim('[', ']');
    }
}
