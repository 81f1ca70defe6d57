using EarlyPipeProxy.Fuzz.Drivers;

namespace EarlyPipeProxy.Fuzz.Targets;

/// <summary>SmtpLineReader (plain lines, or command lines with the AUTH allowance and the command parser): every split reads the same.</summary>
internal static class LineTarget
{
    public static void Run(byte[] raw)
    {
        var input = FuzzInput.From(raw);
        var maxLength = input.Pick(0, 0, 1, 4, 16, 64, 512, 1000);
        int? maxAuthLength = input.Bit(3) ? input.Pick(4, 0, 8, 32, 100, 12288) : null;
        var unsplit = LineFraming.Run(ArrivingInput.Whole(input.Data), maxLength, maxAuthLength);
        foreach (var (name, split) in input.Splits())
        {
            Shown.RequireSame(unsplit, LineFraming.Run(split, maxLength, maxAuthLength), $"lines ({name})");
        }
    }
}
