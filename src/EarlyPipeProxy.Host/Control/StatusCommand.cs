using System.Net.Sockets;
using EarlyPipeProxy.Host.Hosting;

namespace EarlyPipeProxy.Host.Control;

/// <summary>
/// `earlypipe status [--config FILE]`: asks the running proxy, through its control socket (Control:SocketPath in FILE),
/// for its listeners, open sessions, backend health with reasons, EHLO cache size, certificate expiries, uptime and
/// version (<see cref="StatusReport"/>), and prints the answer. Exit 0 when the proxy answered, 1 when none answers
/// there (or the config cannot be read), with one line on <c>error</c> saying why.
/// </summary>
public static class StatusCommand
{
    private static readonly TimeSpan AnswerTimeout = TimeSpan.FromSeconds(10);

    public static async Task<int> RunAsync(string configPath, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(configPath);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);

        string socketPath;
        try
        {
            var configuration = new ConfigurationBuilder()
                .AddJsonFile(Path.GetFullPath(configPath), optional: false, reloadOnChange: false)
                .AddEnvironmentVariables(ProxyHost.EnvironmentPrefix)
                .Build();
            var control = ControlServerRegistration.ReadOptions(configuration, configPath);
            if (control.SocketPath is null)
            {
                await error.WriteLineAsync($"earlypipe status: {configPath} sets no Control:SocketPath, so there is no running proxy to ask");
                return 1;
            }

            socketPath = control.SocketPath;
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException or FormatException or InvalidOperationException
            or UnauthorizedAccessException or ArgumentException)
        {
            await error.WriteLineAsync($"earlypipe status: {OneLine(ex.Message)}");
            return 1;
        }

        string? answer;
        try
        {
            answer = await ControlClient.TryRequestAsync(socketPath, StatusReport.Request, AnswerTimeout, cancellationToken);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            await error.WriteLineAsync($"earlypipe status: control socket {socketPath}: no answer within {AnswerTimeout.TotalSeconds:0}s");
            return 1;
        }
        catch (Exception ex) when (ex is SocketException or IOException or InvalidDataException)
        {
            await error.WriteLineAsync($"earlypipe status: control socket {socketPath}: {OneLine(ex.Message)}");
            return 1;
        }

        if (answer is null)
        {
            await error.WriteLineAsync($"earlypipe status: no proxy is running at {socketPath}");
            return 1;
        }

        var newline = answer.IndexOf('\n', StringComparison.Ordinal);
        var status = newline < 0 ? answer : answer[..newline];
        if (status != CacheRequestHandler.Ok)
        {
            // A proxy from before `status` answers "error unknown request".
            await error.WriteLineAsync($"earlypipe status: the proxy at {socketPath} answered: {OneLine(status)}");
            return 1;
        }

        await output.WriteAsync(answer[(newline + 1)..]);
        return 0;
    }

    private static string OneLine(string text) => text.ReplaceLineEndings(" ");
}
