using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace EarlyPipeProxy.Sessions.Tls;

/// <summary>How the proxy checks a server it talks TLS to (an inbound listener's backend, an outbound listener's remote).</summary>
public static class TlsClientOptions
{
    /// <param name="targetHost">Sent as SNI and checked against the certificate.</param>
    /// <param name="verify">False accepts any certificate (the operator's explicit choice, e.g. opportunistic TLS to MX hosts).</param>
    /// <param name="anchors">CA certificates to anchor the chain instead of the system store; null for the system store.</param>
    public static SslClientAuthenticationOptions Create(string targetHost, bool verify, X509Certificate2Collection? anchors)
    {
        var options = new SslClientAuthenticationOptions
        {
            TargetHost = targetHost,
            AllowRenegotiation = false,
        };
        if (verify && anchors is not null)
        {
            var policy = new X509ChainPolicy
            {
                TrustMode = X509ChainTrustMode.CustomRootTrust,
                RevocationMode = X509RevocationMode.NoCheck,
            };
            policy.CustomTrustStore.AddRange(anchors);
            options.CertificateChainPolicy = policy;
        }

        if (!verify)
        {
#pragma warning disable CA5359 // Verification was turned off by the operator (VerifyCertificate = false).
            options.RemoteCertificateValidationCallback = static (_, _, _, _) => true;
#pragma warning restore CA5359
        }

        return options;
    }
}
