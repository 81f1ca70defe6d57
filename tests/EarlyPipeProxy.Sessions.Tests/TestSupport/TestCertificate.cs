using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using EarlyPipeProxy.Sessions.Configuration;

namespace EarlyPipeProxy.Sessions.Tests.TestSupport;

/// <summary>
/// A self-signed ECDSA certificate for "mx.test", made once per test run and written as PEM files (the listener
/// options take file paths). Also handed to a <see cref="FakeBackend"/> that offers STARTTLS.
/// </summary>
public sealed class TestCertificate
{
    public const string HostName = "mx.test";

    private static readonly Lazy<TestCertificate> Shared = new(Create, LazyThreadSafetyMode.ExecutionAndPublication);

    private TestCertificate(X509Certificate2 certificate, string directory)
    {
        Certificate = certificate;
        Directory = directory;
        CertificatePath = Path.Combine(directory, "cert.pem");
        KeyPath = Path.Combine(directory, "key.pem");
    }

    public static TestCertificate Instance => Shared.Value;

    /// <summary>With its private key.</summary>
    public X509Certificate2 Certificate { get; }

    public string Directory { get; }

    public string CertificatePath { get; }

    public string KeyPath { get; }

    /// <summary>SHA-1 hash, as <see cref="System.Security.Cryptography.X509Certificates.X509Certificate.GetCertHashString()"/> gives it.</summary>
    public string Thumbprint => Certificate.GetCertHashString();

    /// <summary>Gives a listener this certificate: STARTTLS is offered (or TLS-on-connect becomes possible).</summary>
    public static void Configure(InboundListenerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Tls.CertificatePath = Instance.CertificatePath;
        options.Tls.KeyPath = Instance.KeyPath;
    }

    /// <summary>Gives an outbound listener this certificate for its senders: STARTTLS is offered to them.</summary>
    public static void Configure(OutboundListenerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.SenderTls.CertificatePath = Instance.CertificatePath;
        options.SenderTls.KeyPath = Instance.KeyPath;
    }

    private static TestCertificate Create()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=" + HostName, key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName(HostName);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], critical: false));
        var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(7));

        var directory = Path.Combine(Path.GetTempPath(), "earlypipe-tls-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(directory);
        var result = new TestCertificate(certificate, directory);
        File.WriteAllText(result.CertificatePath, certificate.ExportCertificatePem());
        File.WriteAllText(result.KeyPath, key.ExportPkcs8PrivateKeyPem());
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try
            {
                System.IO.Directory.Delete(directory, recursive: true);
            }
            catch (IOException)
            {
            }
        };
        return result;
    }
}
