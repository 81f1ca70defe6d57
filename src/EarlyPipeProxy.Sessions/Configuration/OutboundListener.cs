using System.Net;
using System.Security.Cryptography.X509Certificates;
using EarlyPipeProxy.Sessions.Tls;

namespace EarlyPipeProxy.Sessions.Configuration;

/// <summary>
/// An outbound listener for the life of the process: its current <see cref="Settings"/>, which a reload replaces (a
/// session takes them once, at its start), and its live state, which a reload keeps: the connection count and the
/// per-address table, whose limits it may change.
/// </summary>
public sealed class OutboundListener
{
    private OutboundListenerSettings _settings;

    /// <exception cref="FormatException">A value that cannot work. An unreadable certificate does not throw: see <see cref="Problem"/>.</exception>
    public OutboundListener(OutboundListenerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ServerCertificateProvider? senderCertificates = null;
        if (options.SenderTls.IsConfigured)
        {
            senderCertificates = ServerCertificateProvider.TryCreate(options.SenderTls.CertificatePath!, options.SenderTls.KeyPath, out var error);
            Problem = error;
        }

        _settings = new OutboundListenerSettings(options, senderCertificates);
        ListenEndPoint = _settings.ListenEndPoint;
        Connections = new ConnectionSlots(options.Limits.MaxConnections);
        AddressLimits = new ClientAddressLimiter(options.Limits);
        WarmConnections = new Outbound.Warm.WarmConnections(() => Settings.Options.ConnectionCache);
    }

    /// <summary>The listener's parked remote connections (ConnectionCache), kept across reloads; its options are read at each use.</summary>
    public Outbound.Warm.WarmConnections WarmConnections { get; }

    /// <summary>The settings new sessions take; replaced whole by <see cref="Apply"/>.</summary>
    public OutboundListenerSettings Settings => Volatile.Read(ref _settings);

    /// <summary>Why the listener could not be opened at start (its certificate did not load); null when it was.</summary>
    public string? Problem { get; }

    public OutboundListenerOptions Options => Settings.Options;

    public string Name => Settings.Name;

    /// <summary>Where the listener was opened; fixed for the process (a change needs a restart).</summary>
    public IPEndPoint ListenEndPoint { get; }

    /// <summary>The fixed remote; null when each connection goes to its original destination.</summary>
    public IPEndPoint? Upstream => Settings.Upstream;

    /// <summary>The host of Upstream as configured: the default TLS server name.</summary>
    public string? UpstreamHostName => Settings.UpstreamHostName;

    public IPAddress? SourceAddress => Settings.SourceAddress;

    /// <summary>The senders relayed for; null: any.</summary>
    public AddressList? AllowedSenders => Settings.AllowedSenders;

    /// <summary>Tls:TrustedCaPath loaded; null means the system store.</summary>
    public X509Certificate2Collection? TrustAnchors => Settings.TrustAnchors;

    public ConnectionSlots Connections { get; }

    /// <summary>Enforces the per-client-address limits (<see cref="ListenerLimits.MaxConnectionsPerAddress"/> and its rate).</summary>
    public ClientAddressLimiter AddressLimits { get; }

    /// <summary>The certificate for senders' STARTTLS; null when the listener offers them none.</summary>
    public ServerCertificateProvider? SenderCertificates => Settings.SenderCertificates;

    /// <summary>Makes <paramref name="settings"/> the ones new sessions take, and their limits the live ones; sessions running keep theirs.</summary>
    public void Apply(OutboundListenerSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        Connections.Resize(settings.Options.Limits.MaxConnections);
        AddressLimits.Update(settings.Options.Limits);
        Volatile.Write(ref _settings, settings);
    }
}
