namespace EarlyPipeProxy.Host.Hosting;

/// <summary>
/// While `earlypipe run` starts the host, the host's own "Hosting failed to start" error (with Kestrel's stack trace)
/// is held back: the run verb reports the same failure in one line naming the configuration key. At every other time
/// the host's category logs as before, warnings and up.
/// </summary>
public static class HostStartLog
{
    public const string Category = "Microsoft.Extensions.Hosting.Internal.Host";

    private static volatile bool _starting;

    /// <summary>Set by the run verb around the host's start.</summary>
    public static bool Starting
    {
        get => _starting;
        set => _starting = value;
    }

    public static bool IsEnabled(LogLevel level) => level >= LogLevel.Warning && !_starting;
}
