namespace EarlyPipeProxy.Sessions.EhloCache;

/// <summary>
/// Which EHLO reply of a server an entry holds. A server may offer different extensions before and after TLS (Exim keeps
/// a cleartext and a crypted view, C4), so each phase is cached on its own.
/// </summary>
public enum TlsPhase
{
    /// <summary>The EHLO reply on a plain connection, before any STARTTLS.</summary>
    Cleartext,

    /// <summary>The EHLO reply after STARTTLS on that connection.</summary>
    AfterStartTls,

    /// <summary>The EHLO reply on a TLS-on-connect (port 465 style) connection.</summary>
    TlsOnConnect,
}
