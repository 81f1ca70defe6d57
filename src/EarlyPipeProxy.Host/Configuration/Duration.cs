using System.Globalization;

namespace EarlyPipeProxy.Host.Configuration;

/// <summary>
/// Durations as operators write them: "30s", "5m", "2h", "7d", "250ms", combined as "1h30m", or as TimeSpan text
/// ("00:05:00", "7.00:00:00"). A bare number is refused: TimeSpan would read "30" as thirty days.
/// </summary>
public static class Duration
{
    public const string Forms = "30s, 5m, 2h, 7d, 250ms, 1h30m or hh:mm:ss";

    public static bool TryParse(string? text, out TimeSpan value)
    {
        value = TimeSpan.Zero;
        var span = text.AsSpan().Trim();
        if (span.IsEmpty)
        {
            return false;
        }

        if (span.Contains(':'))
        {
            return TimeSpan.TryParse(span, CultureInfo.InvariantCulture, out value);
        }

        var total = TimeSpan.Zero;
        while (!span.IsEmpty)
        {
            var digits = 0;
            while (digits < span.Length && char.IsAsciiDigit(span[digits]))
            {
                digits++;
            }

            if (digits == 0 || !long.TryParse(span[..digits], NumberStyles.None, CultureInfo.InvariantCulture, out var number))
            {
                return false;
            }

            span = span[digits..];
            var unitLength = 0;
            while (unitLength < span.Length && char.IsAsciiLetter(span[unitLength]))
            {
                unitLength++;
            }

            TimeSpan unit;
            switch (span[..unitLength])
            {
                case "ms":
                    unit = TimeSpan.FromMilliseconds(1);
                    break;
                case "s":
                    unit = TimeSpan.FromSeconds(1);
                    break;
                case "m":
                    unit = TimeSpan.FromMinutes(1);
                    break;
                case "h":
                    unit = TimeSpan.FromHours(1);
                    break;
                case "d":
                    unit = TimeSpan.FromDays(1);
                    break;
                default:
                    return false;
            }

            span = span[unitLength..];
            if (number > TimeSpan.MaxValue.Ticks / unit.Ticks || total.Ticks > TimeSpan.MaxValue.Ticks - (unit.Ticks * number))
            {
                return false;
            }

            total += TimeSpan.FromTicks(unit.Ticks * number);
        }

        value = total;
        return true;
    }

    public static TimeSpan Parse(string text) =>
        TryParse(text, out var value) ? value : throw new FormatException($"'{text}' is not a duration ({Forms}).");

    /// <summary>The shortest of the forms <see cref="Parse"/> reads back: "7d", "30s", "250ms", else TimeSpan's "c" text.</summary>
    public static string Format(TimeSpan value)
    {
        if (value <= TimeSpan.Zero)
        {
            return value.ToString("c", CultureInfo.InvariantCulture);
        }

        (TimeSpan Unit, string Suffix)[] units =
            [(TimeSpan.FromDays(1), "d"), (TimeSpan.FromHours(1), "h"), (TimeSpan.FromMinutes(1), "m"), (TimeSpan.FromSeconds(1), "s"), (TimeSpan.FromMilliseconds(1), "ms")];
        foreach (var (unit, suffix) in units)
        {
            if (value.Ticks % unit.Ticks == 0)
            {
                return (value.Ticks / unit.Ticks).ToString(CultureInfo.InvariantCulture) + suffix;
            }
        }

        return value.ToString("c", CultureInfo.InvariantCulture);
    }
}
