namespace EarlyPipeProxy.Host.Logging;

/// <summary>The console log format, <c>Logging:Format</c> in the config (see <see cref="LoggingSetup"/>).</summary>
public enum LogFormat
{
    /// <summary>Exim-style lines with a UTC timestamp (<see cref="SessionLineFormatter"/>); the default.</summary>
    Text,

    /// <summary>One JSON object a line: timestamp, level, category, event id, message and the message's fields.</summary>
    Json,

    /// <summary>
    /// The text lines behind syslog's <c>&lt;N&gt;</c> priority prefix, which journald reads from a service's output
    /// (<see cref="JournalLineFormatter"/>); the default when the output is the journal (<c>JOURNAL_STREAM</c>).
    /// </summary>
    Systemd,
}
