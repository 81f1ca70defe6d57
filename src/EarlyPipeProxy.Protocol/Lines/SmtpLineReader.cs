using System.Buffers;

namespace EarlyPipeProxy.Protocol.Lines;

/// <summary>
/// Reads CRLF-terminated SMTP lines from a <see cref="SequenceReader{T}"/> without allocating,
/// in the manner of Kestrel's HttpParser: incomplete input consumes nothing.
/// </summary>
public static class SmtpLineReader
{
    /// <summary>
    /// Reads one line. <paramref name="maxLength"/> counts the line without its CRLF.
    /// Complete: <paramref name="line"/> is the line without CRLF, reader advanced past CRLF.
    /// BareLineEnding: <paramref name="line"/> is the bytes up to (not including) the LF, reader advanced past the LF.
    /// Incomplete/TooLong: reader not advanced, <paramref name="line"/> empty.
    /// TooLong is returned only when more than maxLength + 2 bytes are buffered with no LF among them,
    /// or when the LF that ends the line comes later than maxLength + 2 bytes.
    /// </summary>
    public static LineReadStatus TryReadLine(ref SequenceReader<byte> reader, int maxLength, out ReadOnlySequence<byte> line)
        => throw new NotImplementedException();

    /// <summary>
    /// Discards input up to and including the next LF (used after <see cref="LineReadStatus.TooLong"/>).
    /// Returns true when the LF was found; false when the whole buffer was discarded and more must be skipped.
    /// </summary>
    public static bool TrySkipLine(ref SequenceReader<byte> reader) => throw new NotImplementedException();
}
