using System.CommandLine;
using EarlyPipeProxy.Host.Configuration;

namespace EarlyPipeProxy.Host.Cli;

/// <summary>
/// `earlypipe config check` (every problem, one line each, without opening a port) and `earlypipe config show` (the
/// effective configuration as JSON).
/// </summary>
public static class ConfigVerbs
{
    public static Command Create(CommandLineContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return new Command("config", "Check the configuration, or show the one the proxy would run with")
        {
            Verb(context, "check", "Validate FILE with its overrides: one line per problem on stderr and exit 1, or 'FILE: ok'. Binds no port.", show: false),
            Verb(context, "show", "Print the effective configuration (defaults, EARLYPIPE__ and --Section:Key=value overrides applied) as JSON.", show: true),
        };
    }

    private static Command Verb(CommandLineContext context, string name, string description, bool show)
    {
        var config = ConfigFileOption.Create();
        var command = new Command(name, description) { config };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var configPath = parse.GetValue(config)!;
            var loaded = ConfigurationLoader.Load(configPath, context.Overrides);
            // `show` prints what would run, closed listeners included; `check` also fails on a listener that would stay closed.
            var problems = show || !loaded.IsValid ? loaded.Problems : [.. loaded.ListenerProblems()];
            foreach (var problem in problems)
            {
                await context.Error.WriteLineAsync(problem.ToString());
            }

            if (problems.Count > 0)
            {
                return 1;
            }

            await context.Output.WriteLineAsync(show ? EffectiveConfiguration.ToJson(loaded) : $"{configPath}: ok");
            return 0;
        });
        return command;
    }
}
