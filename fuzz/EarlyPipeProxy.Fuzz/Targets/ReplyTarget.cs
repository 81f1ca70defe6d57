using EarlyPipeProxy.Fuzz.Drivers;

namespace EarlyPipeProxy.Fuzz.Targets;

/// <summary>SmtpReplyReader: the bounds hold, and every split reads the same replies.</summary>
internal static class ReplyTarget
{
    public static void Run(byte[] raw)
    {
        var input = FuzzInput.From(raw);
        var maxLineLength = input.Pick(0, 3, 4, 16, 64, 512, 2048);
        var maxLines = input.Pick(4, 1, 2, 3, 5, 100);
        var unsplit = ReplyFraming.Run(ArrivingInput.Whole(input.Data), maxLineLength, maxLines);
        foreach (var (name, split) in input.Splits())
        {
            Shown.RequireSame(unsplit, ReplyFraming.Run(split, maxLineLength, maxLines), $"replies ({name})");
        }
    }
}
