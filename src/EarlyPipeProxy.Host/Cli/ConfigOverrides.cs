using EarlyPipeProxy.Host.Configuration;

namespace EarlyPipeProxy.Host.Cli;

/// <summary>
/// Configuration overrides on the command line: --Section:Key=value (--Inbound:0:Listen=[::]:25). The ':' is what
/// tells an override from an option, so a mistyped option (--conifg) stays an error instead of becoming a key; a
/// top-level key (--ShutdownTimeout=10s) is an override when the options have it.
/// </summary>
public sealed class ConfigOverrides
{
    private ConfigOverrides(IReadOnlyList<string> arguments, IReadOnlyList<string> overrides, string? malformed)
    {
        Arguments = arguments;
        Overrides = overrides;
        Malformed = malformed;
    }

    /// <summary>The command line without the overrides, for the parser.</summary>
    public IReadOnlyList<string> Arguments { get; }

    public IReadOnlyList<string> Overrides { get; }

    /// <summary>An argument that looks like an override but is not one (--Section:Key without =value).</summary>
    public string? Malformed { get; }

    public static ConfigOverrides Split(IReadOnlyList<string> args)
    {
        ArgumentNullException.ThrowIfNull(args);
        var arguments = new List<string>();
        var overrides = new List<string>();
        string? malformed = null;
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (arg == "--")
            {
                arguments.AddRange(args.Skip(i));
                break;
            }

            if (!arg.StartsWith("--", StringComparison.Ordinal) || arg.Length == 2)
            {
                arguments.Add(arg);
                continue;
            }

            var equals = arg.IndexOf('=', StringComparison.Ordinal);
            var name = equals < 0 ? arg[2..] : arg[2..equals];
            if (name.Contains(':', StringComparison.Ordinal) || (equals > 0 && IsTopLevelKey(name)))
            {
                if (equals < 0 || name.Length == 0 || name.StartsWith(':') || name.EndsWith(':'))
                {
                    malformed ??= arg;
                }
                else
                {
                    overrides.Add(arg);
                }
            }
            else
            {
                arguments.Add(arg);
            }
        }

        return new ConfigOverrides(arguments, overrides, malformed);
    }

    private static bool IsTopLevelKey(string name) =>
        typeof(EarlyPipeOptions).GetProperty(name, System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Instance
            | System.Reflection.BindingFlags.IgnoreCase) is not null;
}
