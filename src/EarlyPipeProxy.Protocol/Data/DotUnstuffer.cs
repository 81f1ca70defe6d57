using System.Buffers;

namespace EarlyPipeProxy.Protocol.Data;

/// <summary>
/// A DATA body back to message text (RFC 5321 §4.5.2): one leading "." is removed from every line that has one.
/// Feed it the body without its end-of-data line (<see cref="DataTerminatorScanner"/> finds where that starts);
/// works across calls, remembering only whether the next byte starts a line. Needed where a message received with
/// DATA leaves by BDAT, which carries the text unstuffed.
/// </summary>
public struct DotUnstuffer
{
    // Stored inverted so that default(DotUnstuffer) starts at a line start, as a body does.
    private bool _midLine;

    public void Unstuff(ReadOnlySpan<byte> data, IBufferWriter<byte> output)
    {
        while (!data.IsEmpty)
        {
            if (!_midLine && data[0] == (byte)'.')
            {
                data = data[1..];
                _midLine = true;
                continue;
            }

            var lineEnd = data.IndexOf((byte)'\n');
            if (lineEnd < 0)
            {
                output.Write(data);
                _midLine = true;
                return;
            }

            output.Write(data[..(lineEnd + 1)]);
            _midLine = false;
            data = data[(lineEnd + 1)..];
        }
    }
}
