using EarlyPipeProxy.Protocol.Replies;
using EarlyPipeProxy.Sessions.Downstream;
using EarlyPipeProxy.Sessions.Telemetry;
using EarlyPipeProxy.Sessions.Upstream;
using Microsoft.AspNetCore.Connections;

namespace EarlyPipeProxy.Sessions.Lifetime;

/// <summary>
/// How every session runs and ends, both directions: its policy opens and reads commands; then the last words are
/// flushed, an upstream failure is answered with 421 for what is owed, a timeout with 421 4.4.2, an abort or a lost
/// peer with nothing; the upstream is closed (reset when a message was under way, so it never takes half a message
/// for a whole one); then the session line and metrics, once.
/// </summary>
/// <remarks>
/// A graceful stop comes in three steps. <c>closeRequested</c>: a session between transactions gets 421 4.3.2 at once
/// (after every reply it is owed), one in a transaction goes on. <c>stopCutOff</c>: a transaction whose message has not
/// ended is abandoned (the upstream is reset before any end of data, the peer gets 421 4.3.2), while a session whose
/// end of data is already upstream still waits for the verdict, relays it, then says 421. <c>aborted</c> (the stop's
/// hard end): whatever is left is cut, with nothing more said to the peer, and never a reply the upstream did not give.
/// </remarks>
internal static class SessionGuard
{
    public static async Task RunAsync(ISessionPolicy session, SessionRecord record, DownstreamChannel peer, SessionDeadline deadline,
        CancellationToken closeRequested, CancellationToken stopCutOff)
    {
        using var owned = deadline;
        using var wakeOnClose = peer.WakeOnClose(closeRequested);
        using var wakeAtCutOff = peer.WakeAtStopCutOff(stopCutOff);
        var abortUpstream = false;
        try
        {
            if (await session.OpenAsync())
            {
                await session.RunCommandsAsync(closeRequested, stopCutOff);
            }

            // The last word (221, 421, 550 ...) goes out before the connection closes.
            await peer.FlushAsync();
        }
        catch (UpstreamUnavailableException ex)
        {
            abortUpstream = true;
            session.AnswerUpstreamFailure(ex);
            await peer.FinalFlushAsync();
        }
        catch (Exception ex) when (deadline.Aborted.IsCancellationRequested || ex is ConnectionAbortedException)
        {
            // Said apart from other aborts: this one may have left a message delivered that the peer will send again.
            record.Ended(record.AwaitingVerdict ? SessionEnd.AbortedAwaitingVerdict : SessionEnd.Aborted);
            abortUpstream = session.InTransaction;
        }
        catch (OperationCanceledException)
        {
            // Upstream waits turn their timeouts into UpstreamUnavailableException: this one was a wait for the peer.
            record.Ended(SessionEnd.Timeout);
            abortUpstream = session.InTransaction;
            peer.Write(ProxyReplies.Timeout);
            await peer.FinalFlushAsync();
        }
        catch (IOException)
        {
            record.Ended(SessionEnd.PeerConnectionLost);
            abortUpstream = session.InTransaction;
        }
        finally
        {
            // Measured while the upstream connection still exists: outbound it is the path the saving is about.
            record.RoundTripTime = session.MeasureRoundTripTime();
            await session.CloseUpstreamAsync(abortUpstream);
            await peer.DisposeAsync();
            record.Report();
        }
    }
}
