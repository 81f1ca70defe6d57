using EarlyPipeProxy.Fuzz.Targets;
using SharpFuzz;

// EarlyPipeProxy.Fuzz TARGET                  run under afl-fuzz (input on stdin, SharpFuzz's persistent loop)
// EarlyPipeProxy.Fuzz TARGET --replay PATH... run files (or every file in directories) once each, uninstrumented
// EarlyPipeProxy.Fuzz --list                  the targets
if (args.Length == 1 && args[0] == "--list")
{
    Console.WriteLine(string.Join('\n', FuzzTargets.All.Keys));
    return 0;
}

if (args.Length == 0 || !FuzzTargets.All.TryGetValue(args[0], out var target))
{
    await Console.Error.WriteLineAsync($"usage: EarlyPipeProxy.Fuzz ({string.Join('|', FuzzTargets.All.Keys)}) [--replay PATH...] | --list");
    return 2;
}

if (args.Length > 1 && args[1] == "--replay")
{
    var files = args.Skip(2).SelectMany(p => Directory.Exists(p) ? Directory.EnumerateFiles(p, "*", SearchOption.AllDirectories) : [p]).Order(StringComparer.Ordinal).ToList();
    var failed = 0;
    foreach (var file in files)
    {
        try
        {
            target(File.ReadAllBytes(file));
        }
        catch (Exception e)
        {
            failed++;
            await Console.Error.WriteLineAsync($"{file}: {e}");
        }
    }

    Console.WriteLine($"{args[0]}: replayed {files.Count} inputs, {failed} failed");
    return failed == 0 && files.Count > 0 ? 0 : 1;
}

Fuzzer.Run(stream =>
{
    using var copy = new MemoryStream();
    stream.CopyTo(copy);
    target(copy.ToArray());
});
return 0;
