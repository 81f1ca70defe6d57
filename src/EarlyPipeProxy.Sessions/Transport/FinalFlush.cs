using System.IO.Pipelines;

namespace EarlyPipeProxy.Sessions.Transport;

/// <summary>
/// The flush of a session's last words (421, 221 …), bounded on its own: the session's deadline may be what ended the
/// session, and a peer that does not read must not keep it.
/// </summary>
public static class FinalFlush
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(5);

    /// <summary>Best effort: the session is ending either way, so a peer gone or not reading is not an error.</summary>
    public static async ValueTask TryAsync(PipeWriter output)
    {
        ArgumentNullException.ThrowIfNull(output);
        try
        {
            using var bound = new CancellationTokenSource(Bound);
            await output.FlushAsync(bound.Token);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or InvalidOperationException)
        {
        }
    }
}
