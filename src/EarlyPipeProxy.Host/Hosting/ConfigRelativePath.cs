namespace EarlyPipeProxy.Host.Hosting;

/// <summary>
/// Paths in the config file (the EHLO cache database, the control socket) mean the same file whichever directory the
/// proxy or the CLI was started from: relative ones are taken from the config file's directory.
/// </summary>
public static class ConfigRelativePath
{
    public static string? Resolve(string? path, string configPath)
    {
        if (string.IsNullOrWhiteSpace(path))
        {
            return null;
        }

        var configDirectory = Path.GetDirectoryName(Path.GetFullPath(configPath)) ?? Directory.GetCurrentDirectory();
        return Path.GetFullPath(path, configDirectory);
    }
}
