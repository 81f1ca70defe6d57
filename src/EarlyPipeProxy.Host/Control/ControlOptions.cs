namespace EarlyPipeProxy.Host.Control;

/// <summary>The operator's control socket (bound from the "Control" configuration section).</summary>
public sealed class ControlOptions
{
    public const string SectionName = "Control";

    /// <summary>
    /// The Unix domain socket `earlypipe cache …` talks to while the proxy runs; relative to the config file's directory.
    /// Unset: no control socket (the CLI then works only while the proxy is stopped).
    /// </summary>
    public string? SocketPath { get; set; }

    /// <summary>How long a client may take to send its request line before it is dropped.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(5);
}
