using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace EarlyPipeProxy.Sessions.Tls;

/// <summary>
/// A listener's certificate from PEM files, built once into an <see cref="SslStreamCertificateContext"/> (which also
/// keeps the TLS context that session resumption needs across connections). <see cref="Reload"/> swaps in a new one
/// for the next handshakes; sessions already running keep theirs.
/// </summary>
/// <remarks>
/// An expired (or not yet valid) certificate loads and is served, as Postfix serves it: an SMTP client that checks
/// dates fails its handshake and, being opportunistic, usually delivers in cleartext; refusing to start would stop
/// the listener's cleartext mail too. The host logs it as an error at start and on every reload
/// (<see cref="IsExpired"/>, <see cref="IsNotYetValid"/>) and publishes <see cref="NotAfter"/> as a metric.
/// </remarks>
public sealed class ServerCertificateProvider
{
    private readonly string _certificatePath;
    private readonly string _keyPath;
    private SslStreamCertificateContext _current;

    /// <exception cref="Exception">The files do not load (see <see cref="IsLoadFailure"/>).</exception>
    public ServerCertificateProvider(string certificatePath, string? keyPath)
    {
        _certificatePath = Path.GetFullPath(certificatePath);
        _keyPath = FullKeyPath(certificatePath, keyPath);
        _current = Load();
    }

    public SslStreamCertificateContext Current => Volatile.Read(ref _current);

    public IReadOnlyList<string> Files => [_certificatePath, _keyPath];

    /// <summary>The certificate file, as a full path.</summary>
    public string CertificatePath => _certificatePath;

    /// <summary>The leaf certificate's subject, for logs.</summary>
    public string Subject => Current.TargetCertificate.Subject;

    /// <summary>When the certificate served now expires (UTC).</summary>
    public DateTimeOffset NotAfter => new(Current.TargetCertificate.NotAfter.ToUniversalTime(), TimeSpan.Zero);

    /// <summary>When the certificate served now became valid (UTC).</summary>
    public DateTimeOffset NotBefore => new(Current.TargetCertificate.NotBefore.ToUniversalTime(), TimeSpan.Zero);

    public bool IsExpired(DateTimeOffset now) => now > NotAfter;

    public bool IsNotYetValid(DateTimeOffset now) => now < NotBefore;

    /// <summary>
    /// The provider for the files, or null with <paramref name="error"/> saying why they do not load (missing,
    /// unreadable, not PEM, key not matching).
    /// </summary>
    public static ServerCertificateProvider? TryCreate(string certificatePath, string? keyPath, out string? error)
    {
        ArgumentNullException.ThrowIfNull(certificatePath);
        try
        {
            error = null;
            return new ServerCertificateProvider(certificatePath, keyPath);
        }
        catch (Exception ex) when (IsLoadFailure(ex))
        {
            error = $"certificate {Path.GetFullPath(certificatePath)} does not load: {ex.Message.TrimEnd('.')}";
            return null;
        }
    }

    /// <summary>What loading PEM files throws when they are missing, unreadable or wrong.</summary>
    public static bool IsLoadFailure(Exception exception) =>
        exception is CryptographicException or IOException or UnauthorizedAccessException or ArgumentException or InvalidOperationException;

    /// <summary>Whether this provider reads these files (as configured: relative paths are taken from the current directory).</summary>
    public bool HasFiles(string certificatePath, string? keyPath) =>
        string.Equals(_certificatePath, Path.GetFullPath(certificatePath), StringComparison.Ordinal)
        && string.Equals(_keyPath, FullKeyPath(certificatePath, keyPath), StringComparison.Ordinal);

    /// <summary>Reads the files again; on failure throws and keeps the current certificate.</summary>
    public void Reload() => Volatile.Write(ref _current, Load());

    private static string FullKeyPath(string certificatePath, string? keyPath) =>
        Path.GetFullPath(string.IsNullOrWhiteSpace(keyPath) ? certificatePath : keyPath);

    private SslStreamCertificateContext Load()
    {
        var leaf = X509Certificate2.CreateFromPemFile(_certificatePath, _keyPath);
        var all = new X509Certificate2Collection();
        all.ImportFromPemFile(_certificatePath);
        var intermediates = new X509Certificate2Collection();
        foreach (var certificate in all)
        {
            if (certificate.Thumbprint != leaf.Thumbprint)
            {
                intermediates.Add(certificate);
            }
        }

        return SslStreamCertificateContext.Create(leaf, intermediates, offline: true);
    }
}
