namespace EarlyPipeProxy.Sessions.Inbound;

/// <summary>The session log's L field: whether the early-pipelining keyword was offered and whether input came before the banner.</summary>
public enum EarlyPipeUse
{
    /// <summary>No L field: the keyword was not advertised and no early input was accepted.</summary>
    NotAdvertised,

    /// <summary>"L.": advertised in the EHLO reply, not used.</summary>
    Advertised,

    /// <summary>"L*": commands arrived before the banner and were accepted.</summary>
    Used,
}
