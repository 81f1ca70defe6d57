using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace EarlyPipeProxy.Sessions.Tls;

/// <summary>
/// A listener's certificate from PEM files, built once into an <see cref="SslStreamCertificateContext"/> (which also
/// keeps the TLS context that session resumption needs across connections). <see cref="Reload"/> swaps in a new one
/// for the next handshakes; sessions already running keep theirs.
/// </summary>
public sealed class ServerCertificateProvider
{
    private readonly string _certificatePath;
    private readonly string _keyPath;
    private SslStreamCertificateContext _current;

    public ServerCertificateProvider(string certificatePath, string? keyPath)
    {
        _certificatePath = Path.GetFullPath(certificatePath);
        _keyPath = Path.GetFullPath(string.IsNullOrWhiteSpace(keyPath) ? certificatePath : keyPath);
        _current = Load();
    }

    public SslStreamCertificateContext Current => Volatile.Read(ref _current);

    public IReadOnlyList<string> Files => [_certificatePath, _keyPath];

    /// <summary>The leaf certificate's subject, for logs.</summary>
    public string Subject => Current.TargetCertificate.Subject;

    /// <summary>Reads the files again; on failure throws and keeps the current certificate.</summary>
    public void Reload() => Volatile.Write(ref _current, Load());

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

        if (leaf.NotAfter < DateTime.Now)
        {
            throw new InvalidOperationException($"{_certificatePath}: certificate expired on {leaf.NotAfter:u}");
        }

        return SslStreamCertificateContext.Create(leaf, intermediates, offline: true);
    }
}
