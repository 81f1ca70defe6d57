using System.Buffers;

namespace EarlyPipeProxy.Protocol.Data;

/// <summary>
/// Finds the end of a DATA body exactly at &lt;CRLF&gt;.&lt;CRLF&gt; (RFC 5321 §4.1.1.4) across reads, and refuses bare CR
/// and bare LF so that no other line ending can be read as end-of-data by the server behind us (SMTP smuggling),
/// and NUL, which some servers drop before they look for the end of data.
/// The body starts at a line start: the CRLF that ended the DATA command counts as the first CRLF, so ".\r\n" at once
/// is an empty message. Bytes are never rewritten.
/// Usage: call <see cref="Scan"/> with everything buffered since the last returned position; forward
/// [buffer.Start, position); consume up to position and mark the rest examined. The scanner remembers only whether the
/// returned position is at a line start, so held-back bytes are scanned again on the next call.
/// </summary>
public struct DataTerminatorScanner
{
    private const byte Cr = (byte)'\r';
    private const byte Lf = (byte)'\n';
    private const byte Dot = (byte)'.';

    // NUL is searched for with the line endings: RFC 5321 text never holds it, and MTAs that drop it would read
    // "<CRLF>NUL.<CRLF>" as the end of the message.
    private static ReadOnlySpan<byte> Stoppers => "\r\n\0"u8;
    private static ReadOnlySpan<byte> Terminator => ".\r\n"u8;

    // Stored inverted so that default(DataTerminatorScanner) is the same as Create(): at the start of a body.
    private bool _midLine;

    /// <summary>A scanner at the start of a body.</summary>
    public static DataTerminatorScanner Create() => default;

    /// <summary>
    /// When true (used after a bare line ending or NUL was found, to drain the rest of a refused body), bare CR, LF and
    /// NUL are ignored and only the exact &lt;CRLF&gt;.&lt;CRLF&gt; ends the body.
    /// </summary>
    public bool IgnoreBareLineEndings { get; set; }

    /// <summary>
    /// Scans <paramref name="buffer"/>, which must start at the position returned by the previous call.
    /// For BareLineFeed, BareCarriageReturn and NulCharacter the position is the start of the offending line, or
    /// <paramref name="buffer"/>.Start when that line began in an earlier buffer (its first part was already forwarded).
    /// </summary>
    public DataScanStatus Scan(in ReadOnlySequence<byte> buffer, out SequencePosition position)
    {
        var reader = new SequenceReader<byte>(buffer);
        var atLineStart = !_midLine;

        // Where the line being scanned began, as far as this buffer can tell.
        var lineStart = buffer.Start;
        var lineStartIsReal = atLineStart;
        long lineStartConsumed = 0;

        while (true)
        {
            if (atLineStart)
            {
                lineStart = reader.Position;
                lineStartIsReal = true;
                lineStartConsumed = reader.Consumed;

                if (reader.TryPeek(out var first) && first == Dot)
                {
                    if (reader.IsNext(Terminator, advancePast: true))
                    {
                        _midLine = false;
                        position = reader.Position;
                        return DataScanStatus.EndOfData;
                    }

                    // "." or ".\r" may still become ".\r\n": hold it back so that the next call sees it whole.
                    if (reader.Remaining == 1 || (reader.Remaining == 2 && reader.TryPeek(1, out var second) && second == Cr))
                    {
                        _midLine = false;
                        position = reader.Position;
                        return DataScanStatus.NeedMoreData;
                    }
                }

                atLineStart = false;
            }

            // Vectorised search for the next byte that can end a line. While draining, LF alone means nothing.
            var found = IgnoreBareLineEndings
                ? reader.TryAdvanceTo(Cr, advancePastDelimiter: false)
                : reader.TryAdvanceToAny(Stoppers, advancePastDelimiter: false);
            if (!found)
            {
                reader.AdvanceToEnd();
                _midLine = !(lineStartIsReal && reader.Consumed == lineStartConsumed);
                position = reader.Position;
                return DataScanStatus.NeedMoreData;
            }

            reader.TryPeek(out var ending);
            if (ending == 0)
            {
                return Refuse(DataScanStatus.NulCharacter, lineStart, lineStartIsReal, out position);
            }

            if (ending == Lf)
            {
                return Refuse(DataScanStatus.BareLineFeed, lineStart, lineStartIsReal, out position);
            }

            if (!reader.TryPeek(1, out var afterCr))
            {
                // A CR last in the buffer: whether it is bare depends on the next byte, so hold it back.
                _midLine = !(lineStartIsReal && reader.Consumed == lineStartConsumed);
                position = reader.Position;
                return DataScanStatus.NeedMoreData;
            }

            if (afterCr == Lf)
            {
                reader.Advance(2);
                atLineStart = true;
                continue;
            }

            if (!IgnoreBareLineEndings)
            {
                return Refuse(DataScanStatus.BareCarriageReturn, lineStart, lineStartIsReal, out position);
            }

            // Skip only the bare CR: the byte after it may itself be the CR of a CRLF.
            reader.Advance(1);
        }
    }

    private DataScanStatus Refuse(DataScanStatus status, SequencePosition lineStart, bool lineStartIsReal, out SequencePosition position)
    {
        // Leave the state describing the returned position, so that a drain (IgnoreBareLineEndings) can resume there.
        _midLine = !lineStartIsReal;
        position = lineStart;
        return status;
    }
}
