using System.Diagnostics;

namespace EarlyPipeProxy.EndToEnd.Tests.Infrastructure;

/// <summary>The end of a peer process a test started (HAProxy, Prometheus, the proxy under a stand-in service manager).</summary>
public static class PeerProcessEnd
{
    /// <summary>Kills the process tree if it still runs, waits for it and disposes it; a process already gone is fine.</summary>
    public static async Task KillAsync(Process process)
    {
        ArgumentNullException.ThrowIfNull(process);
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
            }
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }

        process.Dispose();
    }
}
