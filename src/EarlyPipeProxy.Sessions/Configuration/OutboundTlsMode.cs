namespace EarlyPipeProxy.Sessions.Configuration;

/// <summary>Whether the proxy uses STARTTLS toward the remote.</summary>
public enum OutboundTlsMode
{
    /// <summary>Never: the remote's STARTTLS is ignored.</summary>
    None,

    /// <summary>When the remote offers STARTTLS; a failed handshake ends the session with 4xx (the sender retries later).</summary>
    Opportunistic,

    /// <summary>Always: a remote that does not offer STARTTLS gets no mail, the sender gets 4xx.</summary>
    Required,
}
