using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using EarlyPipeProxy.Protocol.Replies;
using EarlyPipeProxy.Sessions.Configuration;
using EarlyPipeProxy.Sessions.Logging;
using EarlyPipeProxy.Sessions.Telemetry;
using Microsoft.Extensions.Logging;

namespace EarlyPipeProxy.Sessions.Tracing;

/// <summary>
/// The trace of one session whose peer is on its listener's Trace:Clients list: every command and reply crossing the
/// proxy, one log line each (<see cref="TraceLog"/>), marked with which way it went: C&gt;P the peer (client or
/// sender) to the proxy, P&gt;C the proxy to the peer, P&gt;B / B&gt;P to and from the backend (inbound), P&gt;U /
/// U&gt;P to and from the remote (outbound). Message bodies are counted, never shown; AUTH credentials are masked.
/// </summary>
/// <remarks>
/// It hangs on the <see cref="SessionRecord"/>, which both channels already have: the downstream channel reports the
/// lines it reads and writes through <see cref="ToPeer"/>, the upstream connection writes through
/// <see cref="ToUpstream"/> and reports the replies it reads. A session that is not traced has none, and pays one null
/// check per line.
/// </remarks>
public sealed class SessionTrace
{
    private const string FromPeerWay = "C>P";
    private const string ToPeerWay = "P>C";

    private readonly SessionRecord _record;
    private readonly string _fromUpstreamWay;
    private readonly WrittenStreamTrace _toPeer;
    private readonly WrittenStreamTrace _toUpstream;
    private readonly WrittenStreamTrace _fromUpstream;

    private SessionTrace(SessionRecord record)
    {
        _record = record;
        var upstream = record.Direction == Direction.Inbound ? "B" : "U";
        _fromUpstreamWay = upstream + ">P";
        _toPeer = new WrittenStreamTrace(this, ToPeerWay, commands: false);
        _toUpstream = new WrittenStreamTrace(this, "P>" + upstream, commands: true);
        _fromUpstream = new WrittenStreamTrace(this, _fromUpstreamWay, commands: false);
    }

    /// <summary>
    /// The trace for a session starting now, or null when the peer is not one the listener traces (or the list cannot
    /// be read: a bad entry after a reload must not cost the session).
    /// </summary>
    public static SessionTrace? Start(TraceOptions? options, SessionRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        try
        {
            if (options is null || !options.Traces(record.Peer.Address) || !record.Logger.IsEnabled(LogLevel.Information))
            {
                return null;
            }
        }
        catch (FormatException)
        {
            return null;
        }

        return new SessionTrace(record);
    }

    /// <summary>A line the peer sent (with its CRLF); <paramref name="sasl"/> for an answer inside an AUTH exchange, which is masked.</summary>
    public void FromPeer(in ReadOnlySequence<byte> line, bool sasl)
    {
        var octets = line.Slice(0, Math.Min(line.Length, TraceText.MaxLineOctets + 2)).ToArray();
        Log(FromPeerWay, sasl ? TraceText.Mask(octets) : TraceText.Line(octets, line.Length - octets.Length));
    }

    /// <summary>A message body the peer sent: its size, never its text.</summary>
    public void PeerData(long octets) => Log(FromPeerWay, "(message data: " + octets.ToString(CultureInfo.InvariantCulture) + " octets)");

    /// <summary>The peer's output, seen line by line as the proxy writes its replies.</summary>
    public PipeWriter ToPeer(PipeWriter output) => new TracingPipeWriter(output, _toPeer);

    /// <summary>The upstream's output, seen as the proxy writes commands, bodies and chunks to it.</summary>
    public PipeWriter ToUpstream(PipeWriter output) => new TracingPipeWriter(output, _toUpstream);

    /// <summary>Octets that reached the upstream without its traced output (a first flight sent with the connect).</summary>
    public void WrittenToUpstream(ReadOnlySpan<byte> octets) => _toUpstream.Written(octets);

    /// <summary>A reply the upstream gave, every line of it; a 354 starts the body and a 334 masks the answer that follows.</summary>
    public void FromUpstream(in SmtpReply reply)
    {
        foreach (var segment in reply.Raw)
        {
            _fromUpstream.Written(segment.Span);
        }

        if (reply.Code == ReplyCode.StartMailInput)
        {
            _toUpstream.BeginBody();
        }
        else if (reply.Code == ReplyCode.AuthChallenge)
        {
            _toUpstream.MaskNextLine();
        }
    }

    internal void Log(string way, string text) =>
        TraceLog.Traced(_record.Logger, _record.Peer.Address, _record.Peer.Port, _record.Listener, way, text);
}
