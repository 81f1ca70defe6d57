using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.Extensions.Logging.Console;

namespace EarlyPipeProxy.Host.Logging;

/// <summary>
/// The proxy's logging: the console only, levels from the config's <c>Logging</c> section, and the line format of
/// <c>Logging:Format</c>: <c>text</c> (Exim-style, the default), <c>json</c> or <c>systemd</c> (the default when
/// standard output is the journal).
/// </summary>
public static class LoggingSetup
{
    public const string FormatKey = "Logging:Format";

    /// <summary>Set by systemd (v231+) for a service whose standard output or error goes to the journal.</summary>
    public const string JournalStreamVariable = "JOURNAL_STREAM";

    public static void AddProxyLogging(this WebApplicationBuilder builder, string configPath)
    {
        var format = ResolveFormat(builder.Configuration[FormatKey], Environment.GetEnvironmentVariable(JournalStreamVariable), configPath);

        builder.Logging.ClearProviders();
        builder.Logging.AddConfiguration(builder.Configuration.GetSection("Logging"));
        builder.Logging.AddConsole()
            .AddConsoleFormatter<SessionLineFormatter, ConsoleFormatterOptions>()
            .AddConsoleFormatter<JournalLineFormatter, ConsoleFormatterOptions>();
        builder.Services.Configure<JsonConsoleFormatterOptions>(json =>
        {
            json.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
            json.UseUtcTimestamp = true;
            // Log lines are read by log shippers, never embedded in HTML: `end="QUIT"` stays `end=\"QUIT\"`, not
            // `end=\u0022QUIT\u0022` as the default (HTML-safe) encoder would write it.
            json.JsonWriterOptions = new JsonWriterOptions { Indented = false, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
        });
        // PostConfigure, after every Configure: AddSystemd (ProxyHost) selects Microsoft's systemd formatter when the
        // parent process is systemd, and Logging:Console:FormatterName could name another; Logging:Format decides.
        var formatterName = format switch
        {
            LogFormat.Json => ConsoleFormatterNames.Json,
            LogFormat.Systemd => JournalLineFormatter.FormatterName,
            _ => SessionLineFormatter.FormatterName,
        };
        builder.Services.PostConfigure<ConsoleLoggerOptions>(console => console.FormatterName = formatterName);

        if (builder.Configuration.GetSection("Logging:LogLevel:Microsoft.Hosting.Lifetime").Value is null)
        {
            // Kestrel would announce our SMTP listeners as "http://"; ListenerAnnouncer says what they are.
            builder.Logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Warning);
        }
    }

    /// <summary>
    /// <c>Logging:Format</c> when set (case-insensitive); otherwise <see cref="LogFormat.Systemd"/> when systemd connected
    /// the output to the journal (<paramref name="journalStream"/> set), else <see cref="LogFormat.Text"/>.
    /// </summary>
    public static LogFormat ResolveFormat(string? configured, string? journalStream, string configPath)
    {
        if (string.IsNullOrWhiteSpace(configured))
        {
            return string.IsNullOrEmpty(journalStream) ? LogFormat.Text : LogFormat.Systemd;
        }

        return configured.Trim().ToLowerInvariant() switch
        {
            "text" => LogFormat.Text,
            "json" => LogFormat.Json,
            "systemd" => LogFormat.Systemd,
            _ => throw new InvalidOperationException($"{configPath}: {FormatKey} must be text, json or systemd, not '{configured}'."),
        };
    }
}
