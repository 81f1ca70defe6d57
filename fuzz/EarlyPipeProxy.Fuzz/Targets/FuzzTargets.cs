namespace EarlyPipeProxy.Fuzz.Targets;

/// <summary>The targets by the name given on the command line.</summary>
internal static class FuzzTargets
{
    public static readonly IReadOnlyDictionary<string, Action<byte[]>> All = new Dictionary<string, Action<byte[]>>
    {
        ["lines"] = LineTarget.Run,
        ["proxy-header"] = ProxyHeaderTarget.Run,
        ["replies"] = ReplyTarget.Run,
        ["scanner"] = ScannerTarget.Run,
        ["session"] = SessionTarget.Run,
    };
}
