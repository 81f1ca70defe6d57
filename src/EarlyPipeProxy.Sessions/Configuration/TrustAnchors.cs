using System.Security.Cryptography.X509Certificates;

namespace EarlyPipeProxy.Sessions.Configuration;

/// <summary>PEM CA certificates an operator names to anchor a peer's chain instead of the system store.</summary>
public static class TrustAnchors
{
    /// <summary>The certificates in <paramref name="path"/>; null for an unset path (the system store applies).</summary>
    public static X509Certificate2Collection? Load(string? path, string what)
    {
        if (string.IsNullOrWhiteSpace(path))
        {
            return null;
        }

        var anchors = new X509Certificate2Collection();
        anchors.ImportFromPemFile(path);
        return anchors.Count > 0 ? anchors : throw new FormatException($"{what}: no certificate in {path}.");
    }
}
