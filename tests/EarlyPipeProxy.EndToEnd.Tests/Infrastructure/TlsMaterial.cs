namespace EarlyPipeProxy.EndToEnd.Tests.Infrastructure;

/// <summary>
/// The test CA and server certificate made by tests/peers/tls.sh (PEM, under $PEERS_DIR/tls/; CN and SAN
/// mx.earlypipe.test, plus localhost, 127.0.0.1 and 198.18.0.2). Postfix's STARTTLS uses the same pair.
/// </summary>
public sealed record TlsMaterial(string CaPath, string CertificatePath, string KeyPath, string ChainPath, string CommonName)
{
    private static readonly SemaphoreSlim Lock = new(1, 1);
    private static TlsMaterial? _cached;

    /// <summary>Runs tls.sh (idempotent) once per test run and returns the paths it prints.</summary>
    public static async Task<TlsMaterial> EnsureAsync()
    {
        await Lock.WaitAsync();
        try
        {
            if (_cached is not null)
            {
                return _cached;
            }

            var r = await PeerScripts.RunCheckedAsync("tls.sh", []);
            var kv = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .Select(l => l.Split('=', 2))
                .Where(p => p.Length == 2)
                .ToDictionary(p => p[0], p => p[1], StringComparer.Ordinal);
            _cached = new TlsMaterial(kv["TLS_CA"], kv["TLS_CERT"], kv["TLS_KEY"], kv["TLS_CHAIN"], kv["TLS_CN"]);
            return _cached;
        }
        finally
        {
            Lock.Release();
        }
    }
}
