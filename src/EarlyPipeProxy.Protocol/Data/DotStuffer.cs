using System.Buffers;

namespace EarlyPipeProxy.Protocol.Data;

/// <summary>
/// Message text to its DATA form (RFC 5321 §4.5.2): a line that starts with "." gets one more in front, so that no
/// line of the message can read as the end of data. Works across calls; the struct remembers only whether the next
/// byte starts a line. A bare LF counts as a line end here: stuffing after it too costs nothing and keeps a receiver
/// that ends lines at LF from ever seeing a lone ".".
/// </summary>
public struct DotStuffer
{
    // Stored inverted so that default(DotStuffer) starts at a line start, as a message does.
    private bool _midLine;

    /// <summary>Whether the text written so far ended with a line end (or nothing was written).</summary>
    public readonly bool AtLineStart => !_midLine;

    public void Stuff(ReadOnlySpan<byte> text, IBufferWriter<byte> output)
    {
        while (!text.IsEmpty)
        {
            if (!_midLine && text[0] == (byte)'.')
            {
                output.Write("."u8);
            }

            var lineEnd = text.IndexOf((byte)'\n');
            if (lineEnd < 0)
            {
                output.Write(text);
                _midLine = true;
                return;
            }

            output.Write(text[..(lineEnd + 1)]);
            _midLine = false;
            text = text[(lineEnd + 1)..];
        }
    }

    /// <summary>
    /// Ends the DATA form: "." CRLF, preceded by a CRLF when the text did not end with a line end (RFC 5321
    /// §4.1.1.4: the end of data is &lt;CRLF&gt;.&lt;CRLF&gt;, and the message's last line must be complete).
    /// </summary>
    public readonly void WriteEndOfData(IBufferWriter<byte> output)
        => output.Write(_midLine ? "\r\n.\r\n"u8 : ".\r\n"u8);
}
