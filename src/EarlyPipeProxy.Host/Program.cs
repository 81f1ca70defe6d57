using EarlyPipeProxy.Host.Control;
using EarlyPipeProxy.Host.Hosting;

// earlypipe run [--config FILE] [--Section:Key=value ...] | check HOST[:PORT] | cache list|show|flush | status

// Socket completions run inline on the epoll threads rather than being queued to the thread pool: one fewer
// thread hop per read, which is most of a relayed round trip's cost (bench/throughput). Safe because no session
// code blocks. Read once, when the first socket is used; an operator's own setting wins.
const string InlineCompletions = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";
if (Environment.GetEnvironmentVariable(InlineCompletions) is null)
{
    Environment.SetEnvironmentVariable(InlineCompletions, "1");
}

var verb = args.Length > 0 ? args[0] : "help";
switch (verb)
{
    case "run":
        var configPath = "config/earlypipe.json";
        var overrides = new List<string>();
        for (var i = 1; i < args.Length; i++)
        {
            if (args[i] is "--config" or "-c" && i + 1 < args.Length)
            {
                configPath = args[++i];
            }
            else
            {
                overrides.Add(args[i]);
            }
        }

        var app = ProxyHost.Build(configPath, [.. overrides]);
        await app.RunAsync();
        return 0;

    case "check" when args.Length >= 2:
        return await ServerCheck.RunAsync(args[1], args.Length >= 3 ? args[2] : "earlypipe.localdomain", Console.Out);

    case "cache":
        return await CacheCommand.RunAsync(args[1..], Console.Out, Console.Error);

    case "status" when args.Length == 1 || (args.Length == 3 && args[1] is "--config" or "-c"):
        return await StatusCommand.RunAsync(args.Length == 3 ? args[2] : CacheCommand.DefaultConfigPath, Console.Out, Console.Error, CancellationToken.None);

    default:
        Console.Error.WriteLine("""
            usage: earlypipe run [--config FILE] [--Inbound:0:Listen=127.0.0.1:2025 ...]
                   earlypipe check HOST[:PORT] [HELO-NAME]
                   earlypipe cache list | show HOST[:PORT] | flush [HOST[:PORT]] [--config FILE]
                   earlypipe status [--config FILE]

              run     run the proxy with the listeners in FILE (default config/earlypipe.json);
                      any key can be overridden by EARLYPIPE__Section__Key environment variables
                      or --Section:Key=value arguments.
              check   probe an SMTP server (port 25 by default): its banner, EHLO keywords, and
                      whether it offers early pipelining (PIPECONNECT and its older spellings).
              cache   the outbound EHLO cache (EhloCache:DatabasePath in FILE): list its entries,
                      show one server's cached EHLO reply, flush all or one server's entries.
                      A running proxy is asked through Control:SocketPath; a stopped one's
                      file is opened directly.
              status  ask the running proxy (Control:SocketPath in FILE) for its listeners, open
                      sessions, backend health, EHLO cache size, certificate expiry and uptime.
            """);
        return verb is "help" or "--help" or "-h" ? 0 : 2;
}
