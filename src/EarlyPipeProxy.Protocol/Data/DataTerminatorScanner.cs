using System.Buffers;

namespace EarlyPipeProxy.Protocol.Data;

/// <summary>
/// Finds the end of a DATA body exactly at &lt;CRLF&gt;.&lt;CRLF&gt; (RFC 5321 §4.1.1.4) across reads, and refuses bare CR
/// and bare LF so that no other line ending can be read as end-of-data by the server behind us (SMTP smuggling).
/// The body starts at a line start: the CRLF that ended the DATA command counts as the first CRLF, so ".\r\n" at once
/// is an empty message. Bytes are never rewritten.
/// Usage: call <see cref="Scan"/> with everything buffered since the last returned position; forward
/// [buffer.Start, position); consume up to position and mark the rest examined. The scanner remembers only whether the
/// returned position is at a line start, so held-back bytes are scanned again on the next call.
/// </summary>
public struct DataTerminatorScanner
{
    /// <summary>A scanner at the start of a body.</summary>
    public static DataTerminatorScanner Create() => throw new NotImplementedException();

    /// <summary>
    /// When true (used after a bare line ending was found, to drain the rest of a refused body), bare CR and LF are
    /// ignored and only the exact &lt;CRLF&gt;.&lt;CRLF&gt; ends the body.
    /// </summary>
    public bool IgnoreBareLineEndings { get; set; }

    public DataScanStatus Scan(in ReadOnlySequence<byte> buffer, out SequencePosition position) => throw new NotImplementedException();
}
