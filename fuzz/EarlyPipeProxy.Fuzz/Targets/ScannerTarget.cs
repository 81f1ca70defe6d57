using EarlyPipeProxy.Fuzz.Drivers;

namespace EarlyPipeProxy.Fuzz.Targets;

/// <summary>DataTerminatorScanner: unsplit and every split agree with the byte-at-a-time model, with and without draining.</summary>
internal static class ScannerTarget
{
    public static void Run(byte[] raw)
    {
        var input = FuzzInput.From(raw);
        var ignore = input.Bit(0);
        var drain = input.Bit(1);
        var expected = DataTerminatorModel.Expect(input.Data, ignore, drain);
        DataScanning.RequireModel(expected, DataScanning.Run(ArrivingInput.Whole(input.Data), ignore, drain), "unsplit");
        foreach (var (name, split) in input.Splits())
        {
            DataScanning.RequireModel(expected, DataScanning.Run(split, ignore, drain), name);
        }
    }
}
