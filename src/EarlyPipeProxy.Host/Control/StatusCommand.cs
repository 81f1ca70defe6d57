namespace EarlyPipeProxy.Host.Control;

/// <summary>`earlypipe status`: a placeholder until the control socket answers status requests.</summary>
public static class StatusCommand
{
    public static async Task<int> RunAsync(string configPath, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(error);
        await error.WriteLineAsync("status: not available");
        return 1;
    }
}
