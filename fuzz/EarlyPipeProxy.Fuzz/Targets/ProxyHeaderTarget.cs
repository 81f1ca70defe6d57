using EarlyPipeProxy.Fuzz.Drivers;

namespace EarlyPipeProxy.Fuzz.Targets;

/// <summary>ProxyProtocolHeaderParser: the bounds hold, and however the octets arrive the decision is the one the whole input gives.</summary>
internal static class ProxyHeaderTarget
{
    public static void Run(byte[] raw)
    {
        var input = FuzzInput.From(raw);
        var unsplit = ProxyHeaderReading.Run(ArrivingInput.Whole(input.Data));
        foreach (var (name, split) in input.Splits())
        {
            Shown.RequireSame(unsplit, ProxyHeaderReading.Run(split), $"proxy-header ({name})");
        }
    }
}
