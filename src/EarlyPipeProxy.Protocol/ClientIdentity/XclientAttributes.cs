namespace EarlyPipeProxy.Protocol.ClientIdentity;

/// <summary>
/// The XCLIENT attributes a backend names after the keyword in its EHLO reply (Postfix 3.7: "XCLIENT NAME ADDR PROTO
/// HELO REVERSE_NAME PORT LOGIN DESTADDR DESTPORT", LOGIN only when built with SASL). The proxy sends an attribute
/// only when it is offered: an older Postfix answers 501 to one it does not know, and the whole command fails.
/// </summary>
[Flags]
public enum XclientAttributes
{
    None = 0,
    Name = 1 << 0,
    Addr = 1 << 1,
    Port = 1 << 2,
    ReverseName = 1 << 3,
    DestAddr = 1 << 4,
    DestPort = 1 << 5,
    Helo = 1 << 6,
    Proto = 1 << 7,

    /// <summary>
    /// Parsed so that an offer is understood, never sent: LOGIN= makes Postfix treat the session as authenticated
    /// (sasl_method=XCLIENT), and the proxy has no login to vouch for. A client that authenticates does so itself,
    /// with AUTH relayed to the backend.
    /// </summary>
    Login = 1 << 8,
}
