using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace EarlyPipeProxy.Sessions.Tracing;

/// <summary>
/// Cuts the octets one side of a traced session sends into the lines the trace shows, as they are written: replies
/// toward the peer, or commands toward the upstream. On the upstream side it also knows what is not a line: the
/// message body after the upstream's 354 (counted up to its &lt;CRLF&gt;.&lt;CRLF&gt;, never shown), a BDAT chunk
/// (passed over by the size its command names), a PROXY v2 header (binary), and the SASL answer after a 334 (masked).
/// </summary>
internal sealed class WrittenStreamTrace
{
    // "\r\n\r\n\0\r\nQUIT\n", then version/command, family, and the length of the rest (HAProxy's PROXY protocol §2.2).
    private static ReadOnlySpan<byte> ProxyV2Signature => "\r\n\r\n\0\r\nQUIT\n"u8;
    private const int ProxyV2FixedLength = 16;

    private readonly SessionTrace _trace;
    private readonly string _way;
    private readonly bool _commands;
    private readonly byte[] _line = new byte[TraceText.MaxLineOctets + 2];
    private int _lineLength;
    private long _lineOverflow;
    private long _skip;
    private bool _started;
    private bool _inBody;
    private long _bodyOctets;
    private int _terminator;
    private bool _maskNext;

    /// <param name="commands">The proxy's side toward the upstream: bodies, BDAT chunks, PROXY headers and SASL answers are known.</param>
    public WrittenStreamTrace(SessionTrace trace, string way, bool commands)
    {
        _trace = trace;
        _way = way;
        _commands = commands;
    }

    /// <summary>The upstream said 354: what is written next is the message body.</summary>
    public void BeginBody()
    {
        _inBody = true;
        _bodyOctets = 0;
        // As if just after a CRLF: an empty body is "." CRLF.
        _terminator = 2;
    }

    /// <summary>The upstream said 334: the next line written is a SASL answer.</summary>
    public void MaskNextLine() => _maskNext = true;

    public void Written(ReadOnlySpan<byte> bytes)
    {
        if (!_started && _commands && bytes.Length >= ProxyV2FixedLength && bytes.StartsWith(ProxyV2Signature))
        {
            _skip = ProxyV2FixedLength + BinaryPrimitives.ReadUInt16BigEndian(bytes[14..16]);
            _trace.Log(_way, "(PROXY protocol v2 header: " + _skip.ToString(CultureInfo.InvariantCulture) + " octets)");
        }

        _started = true;
        while (!bytes.IsEmpty)
        {
            if (_skip > 0)
            {
                var passed = (int)Math.Min(_skip, bytes.Length);
                _skip -= passed;
                bytes = bytes[passed..];
            }
            else if (_inBody)
            {
                bytes = Body(bytes);
            }
            else
            {
                bytes = Line(bytes);
            }
        }
    }

    private ReadOnlySpan<byte> Body(ReadOnlySpan<byte> bytes)
    {
        for (var i = 0; i < bytes.Length; i++)
        {
            _terminator = (bytes[i], _terminator) switch
            {
                ((byte)'\r', 3) => 4,
                ((byte)'\r', _) => 1,
                ((byte)'\n', 1) => 2,
                ((byte)'\n', 4) => 5,
                ((byte)'.', 2) => 3,
                _ => 0,
            };
            if (_terminator == 5)
            {
                _inBody = false;
                _bodyOctets += i + 1;
                _trace.Log(_way, "(message data: " + _bodyOctets.ToString(CultureInfo.InvariantCulture) + " octets)");
                return bytes[(i + 1)..];
            }
        }

        _bodyOctets += bytes.Length;
        return [];
    }

    private ReadOnlySpan<byte> Line(ReadOnlySpan<byte> bytes)
    {
        var lf = bytes.IndexOf((byte)'\n');
        var piece = lf < 0 ? bytes : bytes[..(lf + 1)];
        var room = _line.Length - _lineLength;
        var kept = Math.Min(room, piece.Length);
        piece[..kept].CopyTo(_line.AsSpan(_lineLength));
        _lineLength += kept;
        _lineOverflow += piece.Length - kept;
        if (lf < 0)
        {
            return [];
        }

        var line = _line.AsSpan(0, _lineLength);
        if (_maskNext && _commands)
        {
            _maskNext = false;
            _trace.Log(_way, TraceText.Mask(line));
        }
        else
        {
            _trace.Log(_way, _commands ? TraceText.Line(line, _lineOverflow) : TraceText.Line(line, _lineOverflow, maskAuth: false));
            if (_commands && _lineOverflow == 0)
            {
                _skip = BdatSize(line);
            }
        }

        _lineLength = 0;
        _lineOverflow = 0;
        return bytes[(lf + 1)..];
    }

    /// <summary>The chunk size of "BDAT n" or "BDAT n LAST" (RFC 3030 §2); 0 for any other line.</summary>
    private static long BdatSize(ReadOnlySpan<byte> line)
    {
        if (line.Length < 6 || !Ascii.EqualsIgnoreCase(line[..5], "BDAT "u8))
        {
            return 0;
        }

        var digits = line[5..];
        var end = digits.IndexOfAnyExceptInRange((byte)'0', (byte)'9');
        return long.TryParse(end < 0 ? digits : digits[..end], NumberStyles.None, CultureInfo.InvariantCulture, out var size) ? size : 0;
    }
}
