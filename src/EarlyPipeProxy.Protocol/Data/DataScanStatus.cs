namespace EarlyPipeProxy.Protocol.Data;

/// <summary>Outcome of <see cref="DataTerminatorScanner.Scan"/>.</summary>
public enum DataScanStatus
{
    /// <summary>No end-of-data yet. Forward up to the returned position; keep the rest (a held-back CR or ".", ".CR" at a line start).</summary>
    NeedMoreData,

    /// <summary>The end-of-data &lt;CRLF&gt;.&lt;CRLF&gt; was found; the returned position is just past it.</summary>
    EndOfData,

    /// <summary>A LF not preceded by CR was found (smuggling vector). The returned position is the start of the offending line.</summary>
    BareLineFeed,

    /// <summary>A CR not followed by LF was found (smuggling vector). The returned position is the start of the offending line.</summary>
    BareCarriageReturn,

    /// <summary>A NUL octet was found (RFC 5321 §4.5.2 text never holds one; dropping it makes "&lt;CRLF&gt;NUL.&lt;CRLF&gt;" an end-of-data). The returned position is the start of the offending line.</summary>
    NulCharacter,
}
