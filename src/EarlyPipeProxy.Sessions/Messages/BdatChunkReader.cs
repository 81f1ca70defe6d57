using System.Buffers;
using EarlyPipeProxy.Protocol.Data;
using EarlyPipeProxy.Sessions.Downstream;
using EarlyPipeProxy.Sessions.Telemetry;

namespace EarlyPipeProxy.Sessions.Messages;

/// <summary>
/// A BDAT chunk from the peer (RFC 3030): exactly the announced number of octets, never scanned for lines, handed
/// piece by piece to <c>take</c> (relayed as BDAT, converted to DATA, or dropped), for both directions. The transfer is
/// timed as a whole (<see cref="DownstreamChannel.BeginData"/>), and past a graceful stop's cut-off nothing more of it
/// goes on, since its last octet could end a message whose verdict might not come in time.
/// </summary>
public static class BdatChunkReader
{
    /// <param name="awaitingMore">
    /// Called when a piece was taken and more of the chunk is still to come, before waiting for it: where <c>take</c>
    /// buffers, the place to hand on what it holds, so that a chunk trickling in still streams while a run of small
    /// whole chunks leaves in one write.
    /// </param>
    public static async ValueTask<BdatChunkOutcome> ReadAsync(DownstreamChannel peer, long size, TimeSpan timeout, SessionRecord record,
        Func<ReadOnlySequence<byte>, ValueTask>? take, Func<ValueTask>? awaitingMore = null)
    {
        ArgumentNullException.ThrowIfNull(peer);
        ArgumentNullException.ThrowIfNull(record);
        var remaining = size;
        peer.BeginData(timeout);
        while (remaining > 0)
        {
            var result = await peer.ReadDataAsync();
            if (peer.PastStopCutOff)
            {
                return BdatChunkOutcome.Stopped;
            }

            if (result.IsCanceled)
            {
                if (peer.SettledOver)
                {
                    return BdatChunkOutcome.SessionOver;
                }

                continue;
            }

            var chunk = BdatChunk.Take(result.Buffer, ref remaining);
            record.BytesFromPeer += chunk.Length;
            if (take is not null && !chunk.IsEmpty)
            {
                await take(chunk);
            }

            peer.Input.AdvanceTo(chunk.End);
            if (remaining > 0 && result.IsCompleted)
            {
                return BdatChunkOutcome.PeerLost;
            }

            if (remaining > 0 && awaitingMore is not null && !chunk.IsEmpty)
            {
                await awaitingMore();
            }
        }

        return BdatChunkOutcome.Complete;
    }
}
