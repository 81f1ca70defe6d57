using EarlyPipeProxy.Protocol.Data;

namespace EarlyPipeProxy.Fuzz.Drivers;

/// <summary>
/// Plays the documented caller of <see cref="DataTerminatorScanner"/> over arriving input: each call gets everything
/// from the last returned position; with drain, a refusal switches to IgnoreBareLineEndings and scans on from the
/// returned position. Records every result but NeedMoreData, and the last NeedMoreData when the body stops early.
/// </summary>
internal static class DataScanning
{
    // A held-back "." CR at a line start is the most a NeedMoreData may leave unforwarded.
    private const int MaxHeldBack = 2;

    public static List<ScanOutcome> Run(ArrivingInput input, bool ignoreBareLineEndings, bool drain)
    {
        var scanner = DataTerminatorScanner.Create();
        scanner.IgnoreBareLineEndings = ignoreBareLineEndings;
        var outcomes = new List<ScanOutcome>();
        while (true)
        {
            var buffer = input.Buffer;
            var start = input.Consumed;
            var status = scanner.Scan(buffer, out var position);
            var returned = buffer.Slice(buffer.Start, position).Length;
            var outcome = new ScanOutcome(status, start + returned, start);
            input.Advance(returned);
            switch (status)
            {
                case DataScanStatus.EndOfData:
                    outcomes.Add(outcome);
                    return outcomes;

                case DataScanStatus.NeedMoreData:
                    if (buffer.Length - returned > MaxHeldBack)
                    {
                        throw new InvariantViolationException($"NeedMoreData held back {buffer.Length - returned} bytes at {outcome.Position}");
                    }

                    if (!input.TryArrive())
                    {
                        outcomes.Add(outcome);
                        return outcomes;
                    }

                    break;

                default:
                    outcomes.Add(outcome);
                    if (!drain || scanner.IgnoreBareLineEndings)
                    {
                        return outcomes;
                    }

                    scanner.IgnoreBareLineEndings = true;
                    break;
            }
        }
    }

    /// <summary>
    /// Throws unless <paramref name="actual"/> is what the model expects: the same results at the same positions,
    /// except that a refusal in a line begun in an earlier buffer is reported at that call's buffer start.
    /// </summary>
    public static void RequireModel(IReadOnlyList<ScanOutcome> expected, IReadOnlyList<ScanOutcome> actual, string what)
    {
        var same = expected.Count == actual.Count;
        for (var i = 0; same && i < expected.Count; i++)
        {
            var e = expected[i];
            var a = actual[i];
            var position = DataTerminatorModel.IsRefusal(e.Status) ? Math.Max(e.Position, a.BufferStart) : e.Position;
            same = e.Status == a.Status && a.Position == position && a.Position >= a.BufferStart;
        }

        if (!same)
        {
            throw new InvariantViolationException(
                $"{what}: scanner gave [{string.Join(", ", actual)}], the model [{string.Join(", ", expected)}]");
        }
    }
}
