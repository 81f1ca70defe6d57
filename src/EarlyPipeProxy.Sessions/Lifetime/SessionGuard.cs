using EarlyPipeProxy.Protocol.Replies;
using EarlyPipeProxy.Sessions.Downstream;
using EarlyPipeProxy.Sessions.Telemetry;
using EarlyPipeProxy.Sessions.Upstream;
using Microsoft.AspNetCore.Connections;

namespace EarlyPipeProxy.Sessions.Lifetime;

/// <summary>
/// How every session ends, both directions: the last words flushed, an upstream failure answered with 421 for what is
/// owed, a timeout with 421 4.4.2, an abort or a lost peer with nothing; the upstream closed (reset when a message was
/// under way, so it never takes half a message for a whole one); then the session line and metrics, once.
/// </summary>
public static class SessionGuard
{
    /// <param name="run">The session's policy, start to end.</param>
    /// <param name="answerUpstreamFailure">Writes the 421s owed after the upstream failed (and logs it).</param>
    /// <param name="inTransaction">Whether a message is under way, so a broken end must reset the upstream.</param>
    /// <param name="closeUpstream">Closes the upstream connection, if any; the argument says whether to reset it.</param>
    public static async Task RunAsync(SessionRecord record, DownstreamChannel peer, SessionDeadline deadline, Func<ValueTask> run,
        Func<UpstreamUnavailableException, ValueTask> answerUpstreamFailure, Func<bool> inTransaction, Func<bool, ValueTask> closeUpstream)
    {
        ArgumentNullException.ThrowIfNull(record);
        ArgumentNullException.ThrowIfNull(peer);
        ArgumentNullException.ThrowIfNull(deadline);
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(answerUpstreamFailure);
        ArgumentNullException.ThrowIfNull(inTransaction);
        ArgumentNullException.ThrowIfNull(closeUpstream);
        var abortUpstream = false;
        try
        {
            await run();

            // The last word (221, 421, 550 ...) goes out before the connection closes.
            await peer.FlushAsync();
        }
        catch (UpstreamUnavailableException ex)
        {
            abortUpstream = true;
            await answerUpstreamFailure(ex);
            await peer.FinalFlushAsync();
        }
        catch (Exception ex) when (deadline.Aborted.IsCancellationRequested || ex is ConnectionAbortedException)
        {
            record.Ended(SessionEnd.Aborted);
            abortUpstream = inTransaction();
        }
        catch (OperationCanceledException)
        {
            // Upstream waits turn their timeouts into UpstreamUnavailableException: this one was a wait for the peer.
            record.Ended(SessionEnd.Timeout);
            abortUpstream = inTransaction();
            peer.Write(ProxyReplies.Timeout);
            await peer.FinalFlushAsync();
        }
        catch (IOException)
        {
            record.Ended(SessionEnd.PeerConnectionLost);
            abortUpstream = inTransaction();
        }
        finally
        {
            // Measured while the upstream connection still exists: outbound it is the path the saving is about.
            record.CaptureRoundTripTime();
            await closeUpstream(abortUpstream);
            await peer.DisposeAsync();
            record.Report();
        }
    }
}
