using System.Runtime.CompilerServices;
using EarlyPipeProxy.Protocol.Data;
using EarlyPipeProxy.Sessions.Downstream;
using EarlyPipeProxy.Sessions.Logging;
using EarlyPipeProxy.Sessions.Telemetry;

namespace EarlyPipeProxy.Sessions.Messages;

/// <summary>
/// The DATA body from the peer up to the exact &lt;CRLF&gt;.&lt;CRLF&gt; (<see cref="DataTerminatorScanner"/>), into a
/// sink, for both directions. A bare CR, LF or NUL is refused: another MTA might read such a line ending as the end of
/// the message and the rest as new commands (SMTP smuggling), so the sink abandons the message and the upstream never
/// gets an end of data for it. The transfer is timed as a whole (<see cref="DownstreamChannel.BeginData"/>): a body
/// that trickles in below the minimum data rate is cut by a timeout, before any end of data. Past a graceful stop's
/// cut-off the end of data is not sent either (<see cref="MessageBodyOutcome.Stopped"/>).
/// </summary>
public static class MessageBodyReader
{
    /// <param name="timeout">The transfer's time beyond what the minimum data rate earns it (<see cref="Configuration.SessionTimeouts.Data"/>).</param>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public static async ValueTask<MessageBodyOutcome> ReadAsync(DownstreamChannel peer, IMessageBodySink sink, TimeSpan timeout, SessionRecord record)
    {
        ArgumentNullException.ThrowIfNull(peer);
        ArgumentNullException.ThrowIfNull(sink);
        ArgumentNullException.ThrowIfNull(record);
        var scanner = DataTerminatorScanner.Create();
        var octetsBefore = record.BytesFromPeer;
        var refused = false;
        peer.BeginData(timeout);
        while (true)
        {
            var result = await peer.ReadDataAsync();
            if (peer.PastStopCutOff)
            {
                // Checked on every read, whatever it brought: once the cut-off has passed, no end of data goes
                // upstream, since its verdict might not come before the stop's hard end.
                return MessageBodyOutcome.Stopped;
            }

            if (result.IsCanceled)
            {
                if (peer.SettledOver)
                {
                    return MessageBodyOutcome.SessionOver;
                }

                // A graceful stop waits for the end of the message, up to its cut-off.
                continue;
            }

            var buffer = result.Buffer;
            var status = scanner.Scan(buffer, out var position);
            var piece = buffer.Slice(0, position);
            record.BytesFromPeer += piece.Length;
            switch (status)
            {
                case DataScanStatus.EndOfData:
                    record.Trace?.PeerData(record.BytesFromPeer - octetsBefore);
                    if (!refused)
                    {
                        await sink.EndAsync(piece);
                    }

                    peer.Input.AdvanceTo(position);
                    return refused ? MessageBodyOutcome.Refused : MessageBodyOutcome.Complete;

                case DataScanStatus.BareLineFeed:
                case DataScanStatus.BareCarriageReturn:
                case DataScanStatus.NulCharacter:
                    peer.Input.AdvanceTo(position);
                    if (!refused)
                    {
                        SessionLog.BareLineEndingInData(record.Logger, record.Peer.Address, record.Peer.Port, record.Listener,
                            status switch { DataScanStatus.BareLineFeed => "LF", DataScanStatus.BareCarriageReturn => "CR", _ => "NUL" },
                            record.Direction == Direction.Inbound ? "backend" : "remote");
                        await sink.AbandonAsync();
                        scanner.IgnoreBareLineEndings = true;
                        refused = true;
                    }

                    continue;
            }

            if (!refused && !piece.IsEmpty)
            {
                await sink.WriteAsync(piece);
            }

            peer.Input.AdvanceTo(position, buffer.End);
            if (result.IsCompleted)
            {
                return MessageBodyOutcome.PeerLost;
            }
        }
    }
}
