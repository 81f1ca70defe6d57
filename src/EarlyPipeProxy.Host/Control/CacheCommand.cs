using System.Net.Sockets;
using EarlyPipeProxy.Host.Configuration;
using EarlyPipeProxy.Host.Hosting;
using EarlyPipeProxy.Sessions.EhloCache;

namespace EarlyPipeProxy.Host.Control;

/// <summary>
/// `earlypipe cache list | show HOST[:PORT] | flush [HOST[:PORT]]`. While the proxy runs it holds the cache file's lock,
/// so the request goes through its control socket; when no proxy answers there, the file is opened directly. Exit 0
/// done, 1 failed, 2 usage.
/// </summary>
public static class CacheCommand
{
    public const string DefaultConfigPath = "config/earlypipe.json";

    public const string Usage = """
        usage: earlypipe cache list [--config FILE]
               earlypipe cache show HOST[:PORT] [--config FILE]
               earlypipe cache flush [HOST[:PORT]] [--config FILE]

          The outbound EHLO cache: which servers offered early pipelining. HOST is an IP address
          ([IPv6]:PORT with a port). FILE (default config/earlypipe.json, EARLYPIPE__ environment
          overrides and --Section:Key=value as for run) names EhloCache:DatabasePath and
          Control:SocketPath; a running proxy is asked through that socket, otherwise the
          database file is read (and, for flush, written) directly.
        """;

    /// <summary>Generous: a flush answers only once the file is written, behind whatever the cache's writer had queued.</summary>
    private static readonly TimeSpan AnswerTimeout = TimeSpan.FromSeconds(30);

    public static async Task<int> RunAsync(IReadOnlyList<string> args, TextWriter output, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        // EhloCache:Expiry and Control:RequestTimeout are durations as the proxy reads them ("7d", "5s").
        DurationConverter.Register();

        var configPath = DefaultConfigPath;
        var overrides = new List<string>();
        var words = new List<string>();
        for (var i = 0; i < args.Count; i++)
        {
            if (args[i] is "--config" or "-c")
            {
                if (i + 1 >= args.Count)
                {
                    return UsageError(error, args[i] + " needs a file");
                }

                configPath = args[++i];
            }
            else if (args[i].StartsWith("--", StringComparison.Ordinal) && args[i].Contains('=', StringComparison.Ordinal))
            {
                overrides.Add(args[i]);
            }
            else if (args[i].StartsWith('-'))
            {
                return UsageError(error, "unknown option " + args[i]);
            }
            else
            {
                words.Add(args[i]);
            }
        }

        if (!CacheRequest.TryParse(string.Join(' ', words), out var request, out var problem))
        {
            return UsageError(error, problem);
        }

        try
        {
            var configuration = new ConfigurationBuilder()
                .AddJsonFile(Path.GetFullPath(configPath), optional: false, reloadOnChange: false)
                .AddEnvironmentVariables(ProxyHost.EnvironmentPrefix)
                .AddCommandLine([.. overrides])
                .Build();
            var control = ControlServerRegistration.ReadOptions(configuration, configPath);
            var cacheOptions = EhloCacheRegistration.ReadOptions(configuration, configPath);

            string? answer = null;
            if (control.SocketPath is { } socketPath)
            {
                try
                {
                    answer = await ControlClient.TryRequestAsync(socketPath, request.ToString(), AnswerTimeout);
                }
                catch (Exception ex) when (ex is SocketException or IOException or OperationCanceledException)
                {
                    var reason = ex is OperationCanceledException ? $"no answer within {AnswerTimeout.TotalSeconds:0}s" : ex.Message;
                    await error.WriteLineAsync($"earlypipe cache: control socket {socketPath}: {reason}");
                    return 1;
                }
            }

            answer ??= await AnswerFromFileAsync(request, cacheOptions, control, configPath);
            return await PrintAsync(answer, output, error);
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException or FormatException or InvalidOperationException
            or UnauthorizedAccessException or ArgumentException)
        {
            // A missing or malformed config file, an invalid value in it (a socket path too long for sun_path), an
            // unreadable database directory.
            await error.WriteLineAsync($"earlypipe cache: {ex.Message}");
            return 1;
        }
    }

    /// <summary>No proxy answers: the file is free unless a proxy without a control socket holds it.</summary>
    private static async ValueTask<string> AnswerFromFileAsync(CacheRequest request, EhloCacheOptions options, ControlOptions control, string configPath)
    {
        if (options.DatabasePath is not { } database)
        {
            return CacheRequestHandler.Error(control.SocketPath is null
                ? $"{configPath} sets neither EhloCache:DatabasePath nor Control:SocketPath: a proxy's cache is in its memory only"
                : $"no proxy answers on {control.SocketPath}, and {configPath} sets no EhloCache:DatabasePath to read");
        }

        if (!File.Exists(database))
        {
            // Not created yet: an empty cache. Opening it would create the file (and its directory), which a list must not.
            options.DatabasePath = null;
        }

        await using var cache = EhloCache.Open(options, TimeProvider.System);
        if (options.DatabasePath is not null && !cache.IsPersistent)
        {
            return CacheRequestHandler.Error(control.SocketPath is null
                ? $"{database} is in use by a running proxy (or not writable for this user), and {configPath} has no Control:SocketPath "
                    + "to reach it through: set Control:SocketPath and restart the proxy, or stop the proxy"
                : $"{database} is in use by a running proxy (or not writable for this user), but nothing answers on {control.SocketPath}: "
                    + "restart the proxy so that it opens its control socket, or stop the proxy");
        }

        // Disposing the cache (on the way out) writes a flush to the file before the command exits.
        return await CacheRequestHandler.AnswerAsync(cache, request, TimeProvider.System, CancellationToken.None);
    }

    private static async Task<int> PrintAsync(string answer, TextWriter output, TextWriter error)
    {
        var newline = answer.IndexOf('\n', StringComparison.Ordinal);
        var status = newline < 0 ? answer : answer[..newline];
        var body = newline < 0 ? string.Empty : answer[(newline + 1)..];
        if (status == CacheRequestHandler.Ok)
        {
            await output.WriteAsync(body);
            return 0;
        }

        await error.WriteLineAsync(status.StartsWith(CacheRequestHandler.ErrorPrefix, StringComparison.Ordinal)
            ? "earlypipe cache: " + status[CacheRequestHandler.ErrorPrefix.Length..]
            : "earlypipe cache: unexpected answer from the proxy: " + status);
        return 1;
    }

    private static int UsageError(TextWriter error, string problem)
    {
        error.WriteLine("earlypipe cache: " + problem);
        error.WriteLine(Usage);
        return 2;
    }
}
