using System.Buffers;

namespace EarlyPipeProxy.Protocol.Lines;

/// <summary>
/// Reads CRLF-terminated SMTP lines from a <see cref="SequenceReader{T}"/> without allocating,
/// in the manner of Kestrel's HttpParser: incomplete input consumes nothing.
/// </summary>
public static class SmtpLineReader
{
    private const byte Cr = (byte)'\r';
    private const byte Lf = (byte)'\n';

    /// <summary>
    /// Reads one line. <paramref name="maxLength"/> counts the line without its CRLF.
    /// Complete: <paramref name="line"/> is the line without CRLF, reader advanced past CRLF.
    /// BareLineEnding: <paramref name="line"/> is the bytes up to (not including) the LF, reader advanced past the LF.
    /// Incomplete/TooLong: reader not advanced, <paramref name="line"/> empty.
    /// TooLong is returned only when more than maxLength + 2 bytes are buffered with no LF among them,
    /// or when the LF that ends the line comes later than maxLength + 2 bytes.
    /// </summary>
    /// <summary>
    /// Reads one command line: <see cref="TryReadLine"/> with <paramref name="maxLength"/>, except that a line starting
    /// with the verb AUTH (after any leading whitespace) may carry an initial SASL response up to <paramref name="maxAuthLength"/> (RFC 4954 §4).
    /// </summary>
    public static LineReadStatus TryReadCommandLine(ref SequenceReader<byte> reader, int maxLength, int maxAuthLength, out ReadOnlySequence<byte> line)
    {
        var status = TryReadLine(ref reader, maxLength, out line);
        if (status == LineReadStatus.TooLong && maxAuthLength > maxLength && StartsWithAuth(reader.UnreadSequence, maxLength))
        {
            status = TryReadLine(ref reader, maxAuthLength, out line);
        }

        return status;
    }

    // The verb is looked for within the ordinary limit: a line whose leading whitespace alone is longer is too long.
    private static bool StartsWithAuth(in ReadOnlySequence<byte> unread, int maxLength)
        => Commands.SmtpCommandParser.StartsWithAuth(unread.Slice(0, Math.Min(unread.Length, maxLength)));

    public static LineReadStatus TryReadLine(ref SequenceReader<byte> reader, int maxLength, out ReadOnlySequence<byte> line)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxLength);

        // The LF of an acceptable line is at most at index maxLength + 1, so the search never needs to look further:
        // an attacker streaming megabytes without a LF costs one bounded scan per call, not a scan of everything buffered.
        var window = (long)maxLength + 2;

        var span = reader.UnreadSpan;
        var searchable = (int)Math.Min(span.Length, window);
        var lf = span[..searchable].IndexOf(Lf);
        if (lf >= 0)
        {
            // Fast path: the whole line is in the current segment.
            var crlf = lf > 0 && span[lf - 1] == Cr && !span[..(lf - 1)].Contains(Cr);
            return Finish(ref reader, lf, crlf, out line);
        }

        if (span.Length >= window || reader.Remaining == span.Length)
        {
            // Either the window was wholly inside this segment, or there is no other segment to look in.
            return NoLineFeed(ref reader, window, out line);
        }

        var unread = reader.UnreadSequence;
        var searchArea = unread.Slice(0, Math.Min(unread.Length, window));
        var lfPosition = searchArea.PositionOf(Lf);
        if (lfPosition is null)
        {
            return NoLineFeed(ref reader, window, out line);
        }

        var beforeLf = unread.Slice(0, lfPosition.Value);
        var length = beforeLf.Length;
        var endsInCr = length > 0 && LastByte(beforeLf) == Cr;
        var isCrlf = endsInCr && beforeLf.Slice(0, length - 1).PositionOf(Cr) is null;

        // length <= window - 1, which fits an int because window <= int.MaxValue + 2.
        return Finish(ref reader, (int)length, isCrlf, out line);
    }

    /// <summary>
    /// Discards input up to and including the next LF (used after <see cref="LineReadStatus.TooLong"/>).
    /// Returns true when the LF was found; false when the whole buffer was discarded and more must be skipped.
    /// </summary>
    public static bool TrySkipLine(ref SequenceReader<byte> reader)
    {
        if (reader.TryAdvanceTo(Lf, advancePastDelimiter: true))
        {
            return true;
        }

        reader.AdvanceToEnd();
        return false;
    }

    private static LineReadStatus Finish(ref SequenceReader<byte> reader, int lfIndex, bool isCrlf, out ReadOnlySequence<byte> line)
    {
        var unread = reader.UnreadSequence;
        if (isCrlf)
        {
            line = unread.Slice(0, lfIndex - 1);
            reader.Advance(lfIndex + 1);
            return LineReadStatus.Complete;
        }

        // A bare LF, or a CR inside the line: the caller answers with an error and goes on with the next line,
        // so the line is still consumed.
        line = unread.Slice(0, lfIndex);
        reader.Advance(lfIndex + 1);
        return LineReadStatus.BareLineEnding;
    }

    private static LineReadStatus NoLineFeed(ref SequenceReader<byte> reader, long window, out ReadOnlySequence<byte> line)
    {
        line = ReadOnlySequence<byte>.Empty;
        return reader.Remaining > window ? LineReadStatus.TooLong : LineReadStatus.Incomplete;
    }

    private static byte LastByte(in ReadOnlySequence<byte> sequence)
    {
        var last = sequence.Slice(sequence.Length - 1);
        return last.FirstSpan[0];
    }
}
