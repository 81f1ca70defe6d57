using System.Buffers;
using EarlyPipeProxy.Protocol.Data;
using EarlyPipeProxy.Sessions.Logging;
using EarlyPipeProxy.Sessions.Telemetry;
using EarlyPipeProxy.Sessions.Upstream;

namespace EarlyPipeProxy.Sessions.Messages;

/// <summary>
/// A message the peer sends in BDAT chunks going to an upstream without CHUNKING, which was sent DATA and answered 354:
/// the chunks' octets leave dot-stuffed (<see cref="BdatToDataConverter"/>), streamed as they come, and BDAT LAST becomes
/// the end of data. The line-ending rule is DATA's: a bare CR, LF or NUL refuses the message, the upstream connection
/// is reset at once (it never gets an end of data) and the peer is owed 550 5.5.2. Both directions use it.
/// </summary>
public sealed class ChunksAsData(UpstreamChannel upstream, SessionRecord record)
{
    private BdatToDataConverter _converter = BdatToDataConverter.Create();

    /// <summary>The message was refused for a bare line ending or NUL; the upstream connection is gone.</summary>
    public bool Refused => _converter.Status != ChunkConversionStatus.Converted;

    /// <summary>The chunks so far, before stuffing.</summary>
    public long ContentOctets => _converter.ContentOctets;

    /// <summary>The next octets of a chunk, converted and flushed (nothing once refused).</summary>
    public async ValueTask WriteAsync(ReadOnlySequence<byte> octets)
    {
        if (Refused)
        {
            return;
        }

        foreach (var segment in octets)
        {
            if (_converter.Convert(segment.Span, upstream.Output) != ChunkConversionStatus.Converted)
            {
                await RefuseAsync();
                return;
            }
        }

        await upstream.FlushAsync();
    }

    /// <summary>
    /// After BDAT LAST's chunk: the end of data is written (flushed with whatever the session sends next, before it
    /// reads the verdict). False when the message is refused (also for a CR as its very last octet).
    /// </summary>
    public async ValueTask<bool> EndAsync()
    {
        if (Refused)
        {
            return false;
        }

        if (_converter.WriteEndOfData(upstream.Output) != ChunkConversionStatus.Converted)
        {
            await RefuseAsync();
            return false;
        }

        return true;
    }

    private ValueTask RefuseAsync()
    {
        var what = _converter.Status switch
        {
            ChunkConversionStatus.BareLineFeed => "LF",
            ChunkConversionStatus.BareCarriageReturn => "CR",
            _ => "NUL",
        };
        SessionLog.BareLineEndingInData(record.Logger, record.Peer.Address, record.Peer.Port, record.Listener, what,
            record.Direction == Direction.Inbound ? "backend" : "remote");
        upstream.AbortOnClose = true;
        return upstream.AbortAsync();
    }
}
