using System.Buffers;

namespace EarlyPipeProxy.Fuzz.Drivers;

/// <summary>
/// Input as a pipe hands it to a parser: the bytes arrive in pieces, each read sees everything from the consumer's
/// position up to the last arrival, and the buffer has a segment boundary at every arrival and at every extra cut (a
/// cut repeated gives an empty segment). The same driver run over <see cref="Whole"/> and over any other split of the
/// same bytes must report the same thing: that is what the property tests and the fuzz targets check.
/// </summary>
internal sealed class ArrivingInput
{
    private readonly byte[] _data;
    private readonly int[] _arrivals;
    private readonly int[] _cuts;
    private int _arrivalIndex;

    /// <param name="data">The whole input.</param>
    /// <param name="arrivals">Where arrivals end (any order, out-of-range values clamped); the whole input always arrives in the end.</param>
    /// <param name="cuts">Extra segment boundaries (any order, repeats kept, clamped).</param>
    public ArrivingInput(byte[] data, IEnumerable<int> arrivals, IEnumerable<int> cuts)
    {
        _data = data;
        _arrivals = [.. arrivals.Select(a => Math.Clamp(a, 0, data.Length)).Append(data.Length).Where(a => a > 0 || data.Length == 0).Distinct().Order()];
        _cuts = [.. cuts.Select(c => Math.Clamp(c, 0, data.Length)).Order()];
    }

    /// <summary>Everything at once, in one segment.</summary>
    public static ArrivingInput Whole(byte[] data) => new(data, [], []);

    public int Length => _data.Length;

    /// <summary>Bytes the consumer has taken (absolute offset of <see cref="Buffer"/>'s start).</summary>
    public long Consumed { get; private set; }

    /// <summary>Bytes that have arrived so far.</summary>
    public int Arrived => _arrivals[_arrivalIndex];

    /// <summary>Whether the last arrival has come (the peer has closed).</summary>
    public bool IsComplete => Arrived == _data.Length;

    /// <summary>What a read returns now: [Consumed, Arrived).</summary>
    public ReadOnlySequence<byte> Buffer => Build((int)Consumed, Arrived);

    /// <summary>The consumer takes the bytes before <paramref name="position"/> of the last <see cref="Buffer"/>.</summary>
    public void AdvanceTo(in ReadOnlySequence<byte> buffer, SequencePosition position)
        => Advance(buffer.Slice(buffer.Start, position).Length);

    public void Advance(long count)
    {
        if (count < 0 || Consumed + count > Arrived)
        {
            throw new InvariantViolationException($"advanced by {count} from {Consumed} past the {Arrived} bytes arrived");
        }

        Consumed += count;
    }

    /// <summary>The next piece arrives; false when everything has.</summary>
    public bool TryArrive()
    {
        if (IsComplete)
        {
            return false;
        }

        _arrivalIndex++;
        return true;
    }

    private ReadOnlySequence<byte> Build(int from, int to)
    {
        var bounds = _cuts.Concat(_arrivals).Where(b => b > from && b < to).Order().Append(to);
        SequenceSegment? first = null;
        SequenceSegment? last = null;
        var start = from;
        foreach (var end in bounds)
        {
            // Each segment is a copy of its own, so that a parser reading past a segment's end fails loudly.
            var memory = _data.AsMemory(start, end - start).ToArray().AsMemory();
            last = last is null ? first = new SequenceSegment(memory, 0) : last.Append(memory);
            start = end;
        }

        return new ReadOnlySequence<byte>(first!, 0, last!, last!.Memory.Length);
    }
}
