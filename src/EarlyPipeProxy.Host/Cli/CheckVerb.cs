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
        var tlsOnConnect = new Option<bool>("--tls-on-connect") { Description = "The TLS handshake first, as on port 465 (an outbound listener's Tls:Mode OnConnect)" };
        var tlsName = new Option<string?>("--tls-name") { Description = "With --tls-on-connect: the name sent as SNI and checked in the certificate (default: HOST)" };
        var caFile = new Option<string?>("--ca-file") { Description = "With --tls-on-connect: PEM CA certificates to verify against instead of the system store" };
        var noVerify = new Option<bool>("--no-verify") { Description = "With --tls-on-connect: accept any certificate (say so in the output)" };
        var command = new Command("check", "Probe an SMTP server: banner, EHLO keywords, early pipelining offered (exit 0 when it greets with 220)")
        {
            target,
            heloName,
            tlsOnConnect,
            tlsName,
            caFile,
            noVerify,
        };
        command.SetAction((parse, cancellationToken) =>
        {
            var tls = parse.GetValue(tlsOnConnect)
                ? new CheckTlsOptions(parse.GetValue(tlsName), parse.GetValue(caFile), !parse.GetValue(noVerify))
                : null;
            return ServerCheck.RunAsync(parse.GetValue(target)!, parse.GetValue(heloName)!, context.Output, tls);
        });
        return command;
    }
}
