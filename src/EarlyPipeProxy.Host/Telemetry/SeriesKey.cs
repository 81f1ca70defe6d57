using System.Diagnostics.Metrics;

namespace EarlyPipeProxy.Host.Telemetry;

/// <summary>
/// One series of an instrument: the instrument and its label values (up to <see cref="MaxLabels"/>, strings), compared
/// by value. Made from a measurement's tags without allocating, so that finding a series' collector child costs a
/// dictionary lookup rather than label arrays and prometheus-net's own label lookup per measurement.
/// </summary>
internal readonly struct SeriesKey : IEquatable<SeriesKey>
{
    public const int MaxLabels = 6;

    private readonly Instrument _instrument;
    private readonly int _count;
    private readonly string? _v0;
    private readonly string? _v1;
    private readonly string? _v2;
    private readonly string? _v3;
    private readonly string? _v4;
    private readonly string? _v5;

    private SeriesKey(Instrument instrument, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        _instrument = instrument;
        _count = tags.Length;
        _v0 = tags.Length > 0 ? (string?)tags[0].Value : null;
        _v1 = tags.Length > 1 ? (string?)tags[1].Value : null;
        _v2 = tags.Length > 2 ? (string?)tags[2].Value : null;
        _v3 = tags.Length > 3 ? (string?)tags[3].Value : null;
        _v4 = tags.Length > 4 ? (string?)tags[4].Value : null;
        _v5 = tags.Length > 5 ? (string?)tags[5].Value : null;
    }

    /// <summary>False when the tags do not fit (too many, or a value that is not a string): the caller takes the slow way.</summary>
    public static bool TryCreate(Instrument instrument, ReadOnlySpan<KeyValuePair<string, object?>> tags, out SeriesKey key)
    {
        key = default;
        if (tags.Length > MaxLabels)
        {
            return false;
        }

        foreach (var tag in tags)
        {
            if (tag.Value is not (string or null))
            {
                return false;
            }
        }

        key = new SeriesKey(instrument, tags);
        return true;
    }

    public bool Equals(SeriesKey other) =>
        ReferenceEquals(_instrument, other._instrument) && _count == other._count
        && string.Equals(_v0, other._v0, StringComparison.Ordinal) && string.Equals(_v1, other._v1, StringComparison.Ordinal)
        && string.Equals(_v2, other._v2, StringComparison.Ordinal) && string.Equals(_v3, other._v3, StringComparison.Ordinal)
        && string.Equals(_v4, other._v4, StringComparison.Ordinal) && string.Equals(_v5, other._v5, StringComparison.Ordinal);

    public override bool Equals(object? obj) => obj is SeriesKey other && Equals(other);

    public override int GetHashCode() =>
        HashCode.Combine(_instrument, _count, _v0, _v1, _v2, _v3, _v4, _v5);
}
