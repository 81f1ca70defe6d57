namespace EarlyPipeProxy.Sessions.Configuration;

/// <summary>How the proxy talks to its backend.</summary>
public enum BackendTlsMode
{
    /// <summary>Cleartext: the usual case for a backend on the same host or a trusted segment.</summary>
    None,

    /// <summary>STARTTLS right after the backend's greeting, before anything of the client's is sent.</summary>
    StartTls,
}
