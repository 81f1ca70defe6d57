using System.CommandLine;
using EarlyPipeProxy.Host.Control;

namespace EarlyPipeProxy.Host.Cli;

/// <summary>`earlypipe status`: the running proxy's state, asked through its control socket.</summary>
public static class StatusVerb
{
    public static Command Create(CommandLineContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var config = ConfigFileOption.Create();
        var command = new Command("status", "Ask the running proxy for its state (through Control:SocketPath)") { config };
        command.SetAction((parse, cancellationToken) => StatusCommand.RunAsync(parse.GetValue(config)!, context.Output, context.Error, cancellationToken));
        return command;
    }
}
