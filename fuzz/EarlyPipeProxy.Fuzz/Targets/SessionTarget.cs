using EarlyPipeProxy.Fuzz.Drivers;

namespace EarlyPipeProxy.Fuzz.Targets;

/// <summary>A client stream framed into commands, DATA bodies and BDAT chunks: every split frames the same.</summary>
internal static class SessionTarget
{
    public static void Run(byte[] raw)
    {
        var input = FuzzInput.From(raw);
        var maxLength = input.Pick(0, 16, 64, 512);
        var maxAuthLength = input.Pick(2, 64, 12288);
        var unsplit = SessionFraming.Run(ArrivingInput.Whole(input.Data), maxLength, maxAuthLength);
        foreach (var (name, split) in input.Splits())
        {
            Shown.RequireSame(unsplit, SessionFraming.Run(split, maxLength, maxAuthLength), $"session ({name})");
        }
    }
}
