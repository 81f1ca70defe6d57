using System.Net;
using EarlyPipeProxy.Sessions.Inbound;
using EarlyPipeProxy.Sessions.Tls;

namespace EarlyPipeProxy.Sessions.Configuration;

/// <summary>
/// A listener for the life of the process: its current <see cref="Settings"/>, which a reload replaces (a session takes
/// them once, at its start), and its live state, which a reload keeps: the connection count and the per-address table,
/// whose limits it may change.
/// </summary>
public sealed class InboundListener
{
    private InboundListenerSettings _settings;

    /// <param name="clientNames">The process's client-name lookups; <see cref="ClientNameResolver.Shared"/> when not given.</param>
    /// <exception cref="FormatException">A value that cannot work. An unreadable certificate does not throw: see <see cref="Problem"/>.</exception>
    public InboundListener(InboundListenerOptions options, ClientNameResolver? clientNames = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ServerCertificateProvider? certificates = null;
        if (options.Tls.IsConfigured)
        {
            certificates = ServerCertificateProvider.TryCreate(options.Tls.CertificatePath!, options.Tls.KeyPath, out var error);
            Problem = error;
        }

        _settings = new InboundListenerSettings(options, clientNames ?? ClientNameResolver.Shared, certificates);
        ListenEndPoint = _settings.ListenEndPoint;
        Connections = new ConnectionSlots(options.Limits.MaxConnections);
        AddressLimits = new ClientAddressLimiter(options.Limits);
    }

    /// <summary>The settings new sessions take; replaced whole by <see cref="Apply"/>.</summary>
    public InboundListenerSettings Settings => Volatile.Read(ref _settings);

    /// <summary>Why the listener could not be opened at start (its certificate did not load); null when it was.</summary>
    public string? Problem { get; }

    public InboundListenerOptions Options => Settings.Options;

    public string Name => Settings.Name;

    /// <summary>Where the listener was opened; fixed for the process (a change needs a restart).</summary>
    public IPEndPoint ListenEndPoint { get; }

    public IPEndPoint BackendEndPoint => Settings.BackendEndPoint;

    public AddressList AdvertiseHosts => Settings.AdvertiseHosts;

    /// <summary>The backend's host as configured: the name its certificate is checked against by default.</summary>
    public string BackendHostName => Settings.BackendHostName;

    /// <summary>Backend:TrustedCaPath loaded; null means the system store.</summary>
    public System.Security.Cryptography.X509Certificates.X509Certificate2Collection? BackendTrustAnchors => Settings.BackendTrustAnchors;

    /// <summary>The certificate for STARTTLS and TLS-on-connect; null when the listener offers no TLS.</summary>
    public ServerCertificateProvider? Certificates => Settings.Certificates;

    /// <summary>Where XCLIENT's client names are looked up (shared by the process's listeners).</summary>
    public ClientNameResolver ClientNames => Settings.ClientNames;

    /// <summary>Enforces <see cref="ListenerLimits.MaxConnections"/>.</summary>
    public ConnectionSlots Connections { get; }

    /// <summary>Enforces the per-client-address limits (<see cref="ListenerLimits.MaxConnectionsPerAddress"/> and its rate).</summary>
    public ClientAddressLimiter AddressLimits { get; }

    /// <summary>Makes <paramref name="settings"/> the ones new sessions take, and their limits the live ones; sessions running keep theirs.</summary>
    public void Apply(InboundListenerSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        Connections.Resize(settings.Options.Limits.MaxConnections);
        AddressLimits.Update(settings.Options.Limits);
        Volatile.Write(ref _settings, settings);
    }
}
