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
internal static class SessionGuard
{
    public static async Task RunAsync(ISessionPolicy session, SessionRecord record, DownstreamChannel peer, SessionDeadline deadline,
        CancellationToken closeRequested)
    {
        using var owned = deadline;
        using var wakeOnClose = peer.WakeOnClose(closeRequested);
        var abortUpstream = false;
        try
        {
            if (await session.OpenAsync())
            {
                await session.RunCommandsAsync(closeRequested);
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
            record.Ended(SessionEnd.Aborted);
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
