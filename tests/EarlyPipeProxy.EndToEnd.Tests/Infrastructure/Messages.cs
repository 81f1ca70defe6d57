namespace EarlyPipeProxy.EndToEnd.Tests.Infrastructure;

public static class Ids
{
    /// <summary>A unique, lower-case local part / marker.</summary>
    public static string New(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..(prefix.Length + 13)];
}

public static class Messages
{
    /// <summary>Body with a line starting with a dot and a line that is only "..": both must survive dot-stuffing.</summary>
    public const string WithDotsBody =
        "first line\n.starts with a dot\n..\n. dot space\nlast line\n";

    public static string WithDots(string marker) =>
        $"From: sender@client.test\nSubject: {marker}\nX-Marker: {marker}\n\n" + WithDotsBody;

    public static string Simple(string marker) =>
        $"From: sender@client.test\nSubject: {marker}\nX-Marker: {marker}\n\nbody of {marker}\n";
}
