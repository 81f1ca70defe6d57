using System.Buffers;

namespace EarlyPipeProxy.Protocol.Data;

/// <summary>
/// BDAT chunk octets (RFC 3030) to the DATA form of the same message (RFC 5321 §4.5.2), for a server that does not
/// offer CHUNKING: every line that starts with "." gets one more in front, and the end of data is the only
/// &lt;CRLF&gt;.&lt;CRLF&gt; in the stream. Works across chunks and across the pieces of a chunk; a chunk boundary may
/// fall anywhere, between the CR and LF of a line end too (the CR is held until the next octet decides).
/// <para>
/// The line-ending rule is the one the proxy applies to DATA (<see cref="DataTerminatorScanner"/>): a bare LF, a bare
/// CR or a NUL is refused, never rewritten. Turning a bare LF into CRLF would turn the octets "\n.\r\n" into an end of
/// data the sender never wrote (SMTP smuggling); keeping it would let a server that ends lines at LF (Postfix's
/// smtpd_forbid_bare_newline = normalize, older MTAs) read one there. A refusal is final: later input is ignored,
/// and nothing of the line holding the offending octet is written by the call that finds it. The caller must then
/// never let the server see an end of data for the message (reset the connection).
/// </para>
/// <para>
/// The one change to the content: a message whose last line has no line end gets a CRLF before the end of data
/// (<see cref="AddedLineEnd"/>), as DATA cannot carry a last line without one. Binary content
/// (BODY=BINARYMIME) is not for this converter: it needs a server with CHUNKING.
/// </para>
/// </summary>
public struct BdatToDataConverter
{
    private const byte Cr = (byte)'\r';
    private const byte Lf = (byte)'\n';
    private const byte Dot = (byte)'.';

    private static ReadOnlySpan<byte> Stoppers => "\r\n\0"u8;

    // Stored inverted so that default(BdatToDataConverter) starts at a line start, as a message does.
    private bool _midLine;

    // A CR was the last octet of the input so far; it is written with its LF, or refused as bare.
    private bool _heldCr;

    /// <summary>A converter at the start of a message.</summary>
    public static BdatToDataConverter Create() => default;

    /// <summary>Converted, or the first refusal (final once set).</summary>
    public ChunkConversionStatus Status { get; private set; }

    /// <summary>Message octets taken so far (chunk octets, before dot-stuffing).</summary>
    public long ContentOctets { get; private set; }

    /// <summary><see cref="WriteEndOfData"/> added a CRLF because the content's last line had none.</summary>
    public bool AddedLineEnd { get; private set; }

    /// <summary>Converts the next octets of the message into <paramref name="output"/>.</summary>
    public ChunkConversionStatus Convert(ReadOnlySpan<byte> chunk, IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (Status != ChunkConversionStatus.Converted)
        {
            return Status;
        }

        ContentOctets += chunk.Length;
        if (chunk.IsEmpty)
        {
            return Status;
        }

        if (_heldCr)
        {
            if (chunk[0] != Lf)
            {
                return Status = ChunkConversionStatus.BareCarriageReturn;
            }

            output.Write("\r\n"u8);
            _heldCr = false;
            _midLine = false;
            chunk = chunk[1..];
        }

        while (!chunk.IsEmpty)
        {
            var stop = chunk.IndexOfAny(Stoppers);
            if (stop < 0)
            {
                WriteLinePart(chunk, output);
                return Status;
            }

            var ending = chunk[stop];
            if (ending == 0)
            {
                return Status = ChunkConversionStatus.NulCharacter;
            }

            if (ending == Lf)
            {
                return Status = ChunkConversionStatus.BareLineFeed;
            }

            if (stop + 1 == chunk.Length)
            {
                // Whether this CR is bare depends on the next octet: the line up to it goes now, the CR with its LF.
                WriteLinePart(chunk[..stop], output);
                _heldCr = true;
                return Status;
            }

            if (chunk[stop + 1] != Lf)
            {
                return Status = ChunkConversionStatus.BareCarriageReturn;
            }

            WriteLinePart(chunk[..(stop + 2)], output);
            _midLine = false;
            chunk = chunk[(stop + 2)..];
        }

        return Status;
    }

    /// <summary>
    /// Ends the DATA form after the last chunk: a CRLF when the last line had none, then ".CRLF". Writes nothing
    /// when the message was refused, or is refused now because its last octet is a CR.
    /// </summary>
    public ChunkConversionStatus WriteEndOfData(IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (Status != ChunkConversionStatus.Converted)
        {
            return Status;
        }

        if (_heldCr)
        {
            return Status = ChunkConversionStatus.BareCarriageReturn;
        }

        AddedLineEnd = _midLine;
        output.Write(_midLine ? "\r\n.\r\n"u8 : ".\r\n"u8);
        _midLine = false;
        return Status;
    }

    private void WriteLinePart(ReadOnlySpan<byte> part, IBufferWriter<byte> output)
    {
        if (part.IsEmpty)
        {
            return;
        }

        if (!_midLine && part[0] == Dot)
        {
            output.Write("."u8);
        }

        output.Write(part);
        _midLine = true;
    }
}
