using System.CommandLine;
using EarlyPipeProxy.Host.Configuration;
using EarlyPipeProxy.Host.Hosting;

namespace EarlyPipeProxy.Host.Cli;

/// <summary>
/// `earlypipe run`: the proxy in the foreground until SIGTERM/SIGINT. A configuration that cannot work, or a listener
/// that cannot be opened, is one line per problem on stderr and exit 1, never a stack trace.
/// </summary>
public static class RunVerb
{
    public static Command Create(CommandLineContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var config = ConfigFileOption.Create();
        var command = new Command("run", "Run the proxy with the listeners in FILE; any key can be overridden by "
            + "--Section:Key=value (--Inbound:0:Listen=[::]:25) or EARLYPIPE__Section__Key")
        {
            config,
        };
        command.SetAction((parse, cancellationToken) => RunAsync(parse.GetValue(config)!, context));
        return command;
    }

    private static async Task<int> RunAsync(string configPath, CommandLineContext context)
    {
        WebApplication app;
        try
        {
            app = ProxyHost.Build(configPath, [.. context.Overrides]);
        }
        catch (ConfigurationProblemsException ex)
        {
            foreach (var problem in ex.Problems)
            {
                await context.Error.WriteLineAsync("earlypipe: " + problem);
            }

            return 1;
        }

        await using (app)
        {
            try
            {
                // Not cancelled by the command line's token: the host handles SIGTERM itself, with a graceful stop.
                HostStartLog.Starting = true;
                await app.StartAsync(CancellationToken.None);
            }
            catch (Exception ex)
            {
                HostStartLog.Starting = false;
                // Kestrel's bind failures (address in use, no permission for port 25), the EHLO cache file held by
                // another process, a control socket that cannot be created.
                await context.Error.WriteLineAsync("earlypipe: " + StartFailure.Describe(ex, app.Services.GetRequiredService<ProxyConfiguration>()));
                await StopQuietlyAsync(app);
                return 1;
            }

            HostStartLog.Starting = false;
            await app.WaitForShutdownAsync(CancellationToken.None);
        }

        return 0;
    }

    private static async Task StopQuietlyAsync(WebApplication app)
    {
        try
        {
            using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await app.StopAsync(limit.Token);
        }
        catch (Exception ex) when (ex is OperationCanceledException or InvalidOperationException or IOException or ObjectDisposedException)
        {
            // What failed to start may fail to stop; the start failure is what the operator needs to read.
        }
    }
}
