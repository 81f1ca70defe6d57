namespace EarlyPipeProxy.Protocol.Data;

/// <summary>Outcome of <see cref="BdatToDataConverter"/>: converted, or refused for the first octet that could not be carried by DATA.</summary>
public enum ChunkConversionStatus
{
    /// <summary>Everything so far is in the DATA stream (a CR last in the input is held until its LF comes).</summary>
    Converted,

    /// <summary>A LF not preceded by CR: DATA cannot carry it without giving some server a line end the sender never wrote.</summary>
    BareLineFeed,

    /// <summary>A CR not followed by LF (also a CR that ends the message).</summary>
    BareCarriageReturn,

    /// <summary>A NUL octet: some servers drop it before they look for the end of data.</summary>
    NulCharacter,
}
