using System.CommandLine;
using System.Reflection;

namespace EarlyPipeProxy.Host.Cli;

/// <summary>`earlypipe version`: the same text as --version.</summary>
public static class VersionVerb
{
    public static string Version =>
        typeof(VersionVerb).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
        ?? typeof(VersionVerb).Assembly.GetName().Version?.ToString()
        ?? "unknown";

    public static Command Create(CommandLineContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var command = new Command("version", "Print the version");
        command.SetAction(parse =>
        {
            context.Output.WriteLine(Version);
            return 0;
        });
        return command;
    }
}
