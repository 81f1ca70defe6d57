using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using EarlyPipeProxy.Sessions.Tls;

namespace EarlyPipeProxy.Sessions.Tests.Tls;

/// <summary>A certificate out of its dates loads (and says so); one that does not load says which file and why.</summary>
public sealed class ServerCertificateProviderTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("earlypipe-certs-").FullName;

    [Fact]
    public void An_expired_certificate_loads_and_reports_its_dates()
    {
        // Arrange
        var notAfter = new DateTimeOffset(2020, 2, 1, 0, 0, 0, TimeSpan.Zero);
        var (cert, key) = Write("old.test", notAfter.AddMonths(-1), notAfter);

        // Act
        var provider = new ServerCertificateProvider(cert, key);

        // Assert
        Assert.Equal("CN=old.test", provider.Subject);
        Assert.Equal(notAfter, provider.NotAfter);
        Assert.True(provider.IsExpired(DateTimeOffset.UtcNow));
        Assert.False(provider.IsExpired(notAfter.AddDays(-1)));
        Assert.False(provider.IsNotYetValid(DateTimeOffset.UtcNow));
    }

    [Fact]
    public void A_certificate_not_yet_valid_loads_and_says_so()
    {
        var notBefore = DateTimeOffset.UtcNow.AddDays(10);
        var (cert, key) = Write("future.test", notBefore, notBefore.AddDays(30));

        var provider = new ServerCertificateProvider(cert, key);

        Assert.True(provider.IsNotYetValid(DateTimeOffset.UtcNow));
        Assert.False(provider.IsExpired(DateTimeOffset.UtcNow));
    }

    [Fact]
    public void TryCreate_on_a_missing_file_names_it()
    {
        var missing = Path.Combine(_dir, "missing.pem");

        var provider = ServerCertificateProvider.TryCreate(missing, null, out var error);

        Assert.Null(provider);
        Assert.Contains(missing, error, StringComparison.Ordinal);
    }

    [Fact]
    public void HasFiles_compares_full_paths_and_the_key_defaulting_to_the_certificate()
    {
        var (cert, key) = Write("paths.test", DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        var provider = new ServerCertificateProvider(cert, key);

        Assert.True(provider.HasFiles(cert, key));
        Assert.False(provider.HasFiles(cert, null));
        Assert.False(provider.HasFiles(Path.Combine(_dir, "other.pem"), key));
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private (string Cert, string Key) Write(string name, DateTimeOffset notBefore, DateTimeOffset notAfter)
    {
        using var ecdsa = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=" + name, ecdsa, HashAlgorithmName.SHA256);
        using var certificate = request.CreateSelfSigned(notBefore, notAfter);
        var cert = Path.Combine(_dir, name + ".crt");
        var key = Path.Combine(_dir, name + ".key");
        File.WriteAllText(cert, certificate.ExportCertificatePem());
        File.WriteAllText(key, ecdsa.ExportPkcs8PrivateKeyPem());
        return (cert, key);
    }
}
