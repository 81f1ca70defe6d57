using EarlyPipeProxy.Host.Configuration;
using EarlyPipeProxy.Sessions.Configuration;
using Microsoft.Extensions.Configuration;

namespace EarlyPipeProxy.Sessions.Tests.Host;

/// <summary>Durations in the config file: "30s", "5m", "2h", "7d", "250ms" and TimeSpan text, for every TimeSpan option.</summary>
public sealed class DurationTests
{
    [Theory]
    [InlineData("30s", 0, 0, 30, 0)]
    [InlineData("5m", 0, 5, 0, 0)]
    [InlineData("2h", 2, 0, 0, 0)]
    [InlineData("250ms", 0, 0, 0, 250)]
    [InlineData("1h30m", 1, 30, 0, 0)]
    [InlineData(" 45s ", 0, 0, 45, 0)]
    [InlineData("00:05:00", 0, 5, 0, 0)]
    [InlineData("01:00:00", 1, 0, 0, 0)]
    [InlineData("0s", 0, 0, 0, 0)]
    public void TryParse_OperatorForms_AreRead(string text, int hours, int minutes, int seconds, int milliseconds)
    {
        Assert.True(Duration.TryParse(text, out var value));

        Assert.Equal(new TimeSpan(0, hours, minutes, seconds, milliseconds), value);
    }

    [Fact]
    public void TryParse_DaysAndDayTimeSpanText_AreRead()
    {
        Assert.True(Duration.TryParse("7d", out var days));
        Assert.True(Duration.TryParse("7.00:00:00", out var text));

        Assert.Equal(TimeSpan.FromDays(7), days);
        Assert.Equal(TimeSpan.FromDays(7), text);
    }

    [Theory]
    [InlineData("")]
    [InlineData("30")] // TimeSpan would read thirty days
    [InlineData("5x")]
    [InlineData("s")]
    [InlineData("-5s")]
    [InlineData("1.5h")]
    [InlineData("30 s")]
    [InlineData("5m30")]
    [InlineData("99999999999999999d")]
    [InlineData("25:99:00")]
    public void TryParse_AnythingElse_IsRefused(string text)
    {
        Assert.False(Duration.TryParse(text, out _));
        var error = Assert.Throws<FormatException>(() => Duration.Parse(text));
        Assert.Contains("30s, 5m", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("7d")]
    [InlineData("2h")]
    [InlineData("90m")]
    [InlineData("30s")]
    [InlineData("250ms")]
    public void Format_WritesTheShortFormParseReadsBack(string text)
    {
        var value = Duration.Parse(text);

        Assert.Equal(text, Duration.Format(value));
        Assert.Equal("00:00:00.0001000", Duration.Format(TimeSpan.FromTicks(1000)));
    }

    [Fact]
    public void Binder_WithTheConverterRegistered_ReadsShortFormsIntoEveryTimeSpanOption()
    {
        DurationConverter.Register();
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Command"] = "30s",
            ["Session"] = "2h",
            ["BackendReply"] = "00:10:00",
            ["TlsHandshake"] = "250ms",
        }).Build();

        var timeouts = configuration.Get<SessionTimeouts>()!;

        Assert.Equal(TimeSpan.FromSeconds(30), timeouts.Command);
        Assert.Equal(TimeSpan.FromHours(2), timeouts.Session);
        Assert.Equal(TimeSpan.FromMinutes(10), timeouts.BackendReply);
        Assert.Equal(TimeSpan.FromMilliseconds(250), timeouts.TlsHandshake);
    }
}
