using System.CommandLine;
using EarlyPipeProxy.Host.Control;

namespace EarlyPipeProxy.Host.Cli;

/// <summary>`earlypipe cache list | show HOST[:PORT] | flush [HOST[:PORT]]`, carried out by <see cref="CacheCommand"/>.</summary>
public static class CacheVerbs
{
    public static Command Create(CommandLineContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var command = new Command("cache", "The outbound EHLO cache: through Control:SocketPath while the proxy runs, else EhloCache:DatabasePath")
        {
            Verb(context, "list", "List the cached servers", host: null),
            Verb(context, "show", "Show one server's cached EHLO reply", ArgumentArity.ExactlyOne),
            Verb(context, "flush", "Flush all entries, or one server's", ArgumentArity.ZeroOrOne),
        };
        return command;
    }

    private static Command Verb(CommandLineContext context, string name, string description, ArgumentArity? host)
    {
        var config = ConfigFileOption.Create();
        var command = new Command(name, description) { config };
        Argument<string>? target = null;
        if (host is { } arity)
        {
            target = new Argument<string>("HOST[:PORT]") { Description = "An IP address, [IPv6]:PORT with a port", Arity = arity };
            command.Add(target);
        }

        command.SetAction((parse, cancellationToken) =>
        {
            List<string> args = [name];
            if (target is not null && parse.GetValue(target) is { } value)
            {
                args.Add(value);
            }

            args.AddRange(["--config", parse.GetValue(config)!, .. context.Overrides]);
            return CacheCommand.RunAsync(args, context.Output, context.Error);
        });
        return command;
    }
}
