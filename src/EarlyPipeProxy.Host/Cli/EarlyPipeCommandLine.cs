using System.CommandLine;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;
using EarlyPipeProxy.Host.Configuration;

namespace EarlyPipeProxy.Host.Cli;

/// <summary>
/// The command tree (run, check, cache, config, status, version) and its exit codes: 0 done, 1 failed, 2 usage. A
/// usage error (an unknown verb or option, a missing argument) is its message and the verb's help on stderr.
/// </summary>
public static class EarlyPipeCommandLine
{
    public const int Usage = 2;

    /// <summary>The verbs that read the configuration, and so take --Section:Key=value overrides.</summary>
    private static readonly string[] ConfigurationVerbs = ["run", "cache", "config", "status"];

    public static async Task<int> InvokeAsync(IReadOnlyList<string> args, TextWriter output, TextWriter error, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        // Every verb that reads the configuration reads durations the same way ("30s", "7d").
        DurationConverter.Register();
        var split = ConfigOverrides.Split(args);
        var context = new CommandLineContext(split.Overrides, output, error);
        var root = Create(context);
        var parse = root.Parse(split.Arguments);
        var invocation = new InvocationConfiguration
        {
            Output = output,
            Error = error,
            // Exceptions are caught below (one line, no stack trace); SIGTERM belongs to the host's graceful stop.
            EnableDefaultExceptionHandler = false,
            ProcessTerminationTimeout = null,
        };

        if (parse.Action is ParseErrorAction)
        {
            return UsageError(root, parse, [.. parse.Errors.Select(e => e.Message)], error);
        }

        if (split.Malformed is { } malformed)
        {
            return UsageError(root, parse, [$"{malformed}: a configuration override is --Section:Key=value"], error);
        }

        if (split.Overrides.Count > 0 && !ConfigurationVerbs.Contains(VerbOf(parse)) && parse.Action is not System.CommandLine.Help.HelpAction)
        {
            return UsageError(root, parse, [$"{split.Overrides[0]}: configuration overrides are for {string.Join(", ", ConfigurationVerbs)}"], error);
        }

        try
        {
            return await parse.InvokeAsync(invocation, cancellationToken);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            await error.WriteLineAsync("earlypipe: " + ex.Message.ReplaceLineEndings(" "));
            return 1;
        }
    }

    public static RootCommand Create(CommandLineContext context) =>
        new("earlypipe: an SMTP latency proxy with early pipelining (PIPECONNECT). Exit status: 0 done, 1 failed, 2 usage.")
        {
            RunVerb.Create(context),
            CheckVerb.Create(context),
            CacheVerbs.Create(context),
            ConfigVerbs.Create(context),
            StatusVerb.Create(context),
            VersionVerb.Create(context),
        };

    private static int UsageError(RootCommand root, ParseResult parse, IReadOnlyList<string> problems, TextWriter error)
    {
        foreach (var problem in problems)
        {
            error.WriteLine("earlypipe: " + problem);
        }

        // The failing verb's own help, on stderr: what it takes, where the mistake is.
        var path = new List<string>();
        for (var result = parse.CommandResult; result.Parent is CommandResult parent; result = parent)
        {
            path.Insert(0, result.Command.Name);
        }

        root.Parse([.. path, "--help"]).Invoke(new InvocationConfiguration { Output = error, Error = error });
        return Usage;
    }

    private static string VerbOf(ParseResult parse)
    {
        var result = parse.CommandResult;
        while (result.Parent is CommandResult { Parent: CommandResult } parent)
        {
            result = parent;
        }

        return result.Parent is CommandResult ? result.Command.Name : string.Empty;
    }
}
