namespace EarlyPipeProxy.Protocol.ClientIdentity;

/// <summary>
/// What the proxy knows about the TLS session it terminated for a client, passed on to the backend in the PROXY v2
/// PP2_TYPE_SSL TLV (proxy-protocol.txt §2.2.5) because the backend only ever sees the decrypted stream and could
/// otherwise not tell (or log, or require) that the client used TLS.
/// There is deliberately no client-certificate field: the proxy does not request client certificates, so the TLV
/// always says "no certificate presented".
/// </summary>
/// <param name="Version">
/// Protocol version as US-ASCII, e.g. "TLSv1.3" (sent as PP2_SUBTYPE_SSL_VERSION). 1 to 255 printable characters.
/// </param>
/// <param name="Cipher">
/// Cipher suite name as US-ASCII, e.g. "TLS_AES_256_GCM_SHA384" (sent as PP2_SUBTYPE_SSL_CIPHER). 1 to 255 printable
/// characters.
/// </param>
public readonly record struct ProxyTlsInfo(string Version, string Cipher);
