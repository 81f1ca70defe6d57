using EarlyPipeProxy.Host.Logging;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace EarlyPipeProxy.Sessions.Tests.Host;

/// <summary>Logging:Format: which format a configuration and an environment give, and the journal's line.</summary>
public sealed class LogFormatTests
{
    [Theory]
    [InlineData(null, null, LogFormat.Text)]
    [InlineData("", null, LogFormat.Text)]
    [InlineData(null, "8:4242", LogFormat.Systemd)]
    [InlineData("text", "8:4242", LogFormat.Text)]
    [InlineData("JSON", "8:4242", LogFormat.Json)]
    [InlineData(" systemd ", null, LogFormat.Systemd)]
    public void ResolveFormat_ConfiguredWins_ElseTheJournalDecides(string? configured, string? journalStream, LogFormat expected) =>
        Assert.Equal(expected, LoggingSetup.ResolveFormat(configured, journalStream, "/etc/earlypipe/earlypipe.json"));

    [Fact]
    public void ResolveFormat_UnknownFormat_NamesTheFileTheKeyAndTheValue()
    {
        var error = Assert.Throws<InvalidOperationException>(() => LoggingSetup.ResolveFormat("xml", null, "/etc/earlypipe/earlypipe.json"));

        Assert.Equal("/etc/earlypipe/earlypipe.json: Logging:Format must be text, json or systemd, not 'xml'.", error.Message);
    }

    [Theory]
    [InlineData(LogLevel.Critical, "<2>panic: the message\n")]
    [InlineData(LogLevel.Error, "<3>error: the message\n")]
    [InlineData(LogLevel.Warning, "<4>warning: the message\n")]
    [InlineData(LogLevel.Information, "<6>the message\n")]
    [InlineData(LogLevel.Debug, "<7>debug: the message\n")]
    public void JournalLine_PriorityThenTheTextLine_WithoutTimestamp(LogLevel level, string expected)
    {
        var written = new StringWriter { NewLine = "\n" };

        new JournalLineFormatter().Write(Entry(level, "the message", exception: null), scopeProvider: null, written);

        Assert.Equal(expected, written.ToString());
    }

    [Fact]
    public void JournalLine_AnExceptionStaysOnTheLine_SoTheJournalKeepsOnePriorityForIt()
    {
        var written = new StringWriter { NewLine = "\n" };
        Exception thrown;
        try
        {
            throw new InvalidOperationException("first\nsecond");
        }
        catch (InvalidOperationException e)
        {
            thrown = e;
        }

        new JournalLineFormatter().Write(Entry(LogLevel.Error, "failed", thrown), scopeProvider: null, written);

        var text = written.ToString();
        Assert.StartsWith("<3>error: failed System.InvalidOperationException: first | second", text, StringComparison.Ordinal);
        Assert.Equal(1, text.Count(c => c == '\n'));
    }

    private static LogEntry<string> Entry(LogLevel level, string message, Exception? exception) =>
        new(level, "EarlyPipeProxy.Test", new EventId(100), message, exception, static (state, _) => state);
}
