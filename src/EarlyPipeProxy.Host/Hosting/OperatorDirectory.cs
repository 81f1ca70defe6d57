namespace EarlyPipeProxy.Host.Hosting;

/// <summary>
/// The directory of the EHLO cache file or the control socket, made when it is missing (the shipped config points both
/// at a var/ that a fresh checkout does not have). Made owner-only: what it will hold tells which servers this host
/// mails and lets its owner flush them. A directory that exists is the operator's and keeps its mode.
/// </summary>
public static class OperatorDirectory
{
    public static void EnsureFor(string? filePath)
    {
        var directory = Path.GetDirectoryName(filePath);
        if (string.IsNullOrEmpty(directory) || Directory.Exists(directory))
        {
            return;
        }

        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(directory);
        }
        else
        {
            Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
    }
}
