using EarlyPipeProxy.Fuzz.Drivers;

namespace EarlyPipeProxy.Fuzz.Targets;

/// <summary>
/// A fuzzer's input taken apart: the first byte picks the target's parameters (limits, modes), the second seeds the
/// ways the rest is split, and the rest is the bytes the parser reads. The splits are derived from the input alone, so
/// that a crash replays exactly.
/// </summary>
internal sealed class FuzzInput
{
    // Splitting one byte at a time rebuilds the buffer for each byte: kept to inputs where that stays cheap.
    private const int OneByteSplitLimit = 512;

    // Longer inputs only slow the fuzzer down: nothing in the parsers depends on more than a few lines' worth.
    private const int MaxData = 16 * 1024;

    private FuzzInput(byte parameters, byte splitSeed, byte[] data)
    {
        Parameters = parameters;
        SplitSeed = splitSeed;
        Data = data;
    }

    public byte Parameters { get; }

    public byte SplitSeed { get; }

    public byte[] Data { get; }

    public static FuzzInput From(byte[] input) => input.Length switch
    {
        0 => new FuzzInput(0, 0, []),
        1 => new FuzzInput(input[0], 0, []),
        _ => new FuzzInput(input[0], input[1], input.AsSpan(2, Math.Min(input.Length - 2, MaxData)).ToArray()),
    };

    /// <summary>Picks one of <paramref name="choices"/> with the parameter bits at <paramref name="shift"/>.</summary>
    public T Pick<T>(int shift, params T[] choices) => choices[(Parameters >> shift) % choices.Length];

    public bool Bit(int shift) => ((Parameters >> shift) & 1) == 1;

    /// <summary>Every byte in a segment and an arrival of its own (short inputs), then pseudo-random arrivals and cuts.</summary>
    public IEnumerable<(string Name, ArrivingInput Input)> Splits()
    {
        if (Data.Length <= OneByteSplitLimit)
        {
            var every = Enumerable.Range(1, Data.Length).ToArray();
            yield return ("one byte per arrival", new ArrivingInput(Data, every, []));
            yield return ("one byte per segment", new ArrivingInput(Data, [], every));
        }

        // xorshift32 seeded by the split byte and the length: cheap, and the same for the same input.
        var state = (uint)((SplitSeed << 16) ^ Data.Length ^ 0x9E3779B9);
        uint Next()
        {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            return state;
        }

        var limit = (uint)Data.Length + 1;
        var arrivals = Enumerable.Range(0, (int)(Next() % 12)).Select(_ => (int)(Next() % limit)).ToArray();
        var cuts = Enumerable.Range(0, (int)(Next() % 12)).Select(_ => (int)(Next() % limit)).ToArray();
        yield return ("random arrivals and cuts", new ArrivingInput(Data, arrivals, cuts));
    }
}
