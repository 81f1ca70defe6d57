using System.Buffers;
using EarlyPipeProxy.Protocol.Replies;

namespace EarlyPipeProxy.Sessions.Downstream;

/// <summary>
/// One command line from the peer. <see cref="Line"/> (without CRLF) and <see cref="LineWithEnding"/> point into the
/// channel's input buffer and are valid until <see cref="DownstreamChannel.Consume"/>.
/// </summary>
public readonly struct CommandRead
{
    public CommandRead(CommandReadStatus status, ReadOnlySequence<byte> line = default, ReadOnlySequence<byte> lineWithEnding = default,
        bool moreBuffered = false, bool midCommand = false)
    {
        Status = status;
        Line = line;
        LineWithEnding = lineWithEnding;
        MoreBuffered = moreBuffered;
        MidCommand = midCommand;
    }

    public CommandReadStatus Status { get; }

    public ReadOnlySequence<byte> Line { get; }

    public ReadOnlySequence<byte> LineWithEnding { get; }

    /// <summary>More input was already buffered behind the line: the peer pipelined (or sent data too early).</summary>
    public bool MoreBuffered { get; }

    /// <summary>For <see cref="CommandReadStatus.Closed"/>: the peer left with part of a line sent.</summary>
    public bool MidCommand { get; }

    /// <summary>The answer owed to a line that was dropped (500 5.5.2), empty for the other statuses.</summary>
    public ReadOnlySpan<byte> Refusal => Status switch
    {
        CommandReadStatus.TooLong => ProxyReplies.LineTooLong,
        CommandReadStatus.BareLineEnding => ProxyReplies.BareLineEndingInCommand,
        _ => default,
    };
}
