using System.CommandLine;
using EarlyPipeProxy.Host.Hosting;

namespace EarlyPipeProxy.Host.Cli;

/// <summary>`earlypipe check HOST[:PORT] [HELO-NAME]`: probe an SMTP server for early pipelining.</summary>
public static class CheckVerb
{
    public static Command Create(CommandLineContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var target = new Argument<string>("HOST[:PORT]") { Description = "The server (port 25 by default; [IPv6]:PORT)" };
        var heloName = new Argument<string>("HELO-NAME")
        {
            Description = "The name to send in EHLO",
            Arity = ArgumentArity.ZeroOrOne,
            DefaultValueFactory = _ => "earlypipe.localdomain",
        };
        var command = new Command("check", "Probe an SMTP server: banner, EHLO keywords, early pipelining offered (exit 0 when it greets with 220)")
        {
            target,
            heloName,
        };
        command.SetAction((parse, cancellationToken) => ServerCheck.RunAsync(parse.GetValue(target)!, parse.GetValue(heloName)!, context.Output));
        return command;
    }
}
