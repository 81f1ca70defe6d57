namespace EarlyPipeProxy.Sessions.Configuration;

/// <summary>How the proxy uses TLS toward the remote.</summary>
public enum OutboundTlsMode
{
    /// <summary>Never: the remote's STARTTLS is ignored.</summary>
    None,

    /// <summary>When the remote offers STARTTLS; a failed handshake ends the session with 4xx (the sender retries later).</summary>
    Opportunistic,

    /// <summary>Always: a remote that does not offer STARTTLS gets no mail, the sender gets 4xx.</summary>
    Required,

    /// <summary>
    /// TLS on connect (a port 465 smarthost, RFC 8314): the handshake first, then the banner. Required by nature: a
    /// failed handshake or certificate check gets the sender 4xx, never a cleartext retry; STARTTLS is not used.
    /// </summary>
    OnConnect,
}
