namespace EarlyPipeProxy.Host.Configuration;

/// <summary>
/// One thing wrong with the configuration, for one line of output: where the value came from (the config file, an
/// environment variable, an argument), the key path, and what is wrong with it.
/// </summary>
/// <param name="Source">The config file's path as given, "environment EARLYPIPE__…", or "command line --…".</param>
/// <param name="Key">The key path ("Inbound:0:Backend:Address"); empty for the file as a whole.</param>
public sealed record ConfigurationProblem(string Source, string Key, string Message)
{
    public override string ToString() => Key.Length == 0 ? $"{Source}: {Message}" : $"{Source}: {Key}: {Message}";
}
