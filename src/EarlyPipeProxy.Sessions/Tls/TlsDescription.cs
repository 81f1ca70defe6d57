using System.Net.Security;
using System.Security.Authentication;

namespace EarlyPipeProxy.Sessions.Tls;

/// <summary>How a TLS session is named in log lines and headers.</summary>
public static class TlsDescription
{
    /// <summary>Exim's X= field: protocol and cipher suite, e.g. TLS1.3:TLS_AES_256_GCM_SHA384.</summary>
    public static string Describe(SslStream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        return VersionName(stream.SslProtocol, "TLS") + ":" + stream.NegotiatedCipherSuite;
    }

    /// <summary>"TLS1.3" for Exim's X= field, "TLSv1.3" for the PROXY v2 TLV (OpenSSL's spelling, as HAProxy sends it).</summary>
    public static string VersionName(SslProtocols protocol, string prefix) => protocol switch
    {
        SslProtocols.Tls13 => prefix + "1.3",
        SslProtocols.Tls12 => prefix + "1.2",
        var other => other.ToString(),
    };
}
