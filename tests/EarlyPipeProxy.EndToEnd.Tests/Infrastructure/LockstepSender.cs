using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace EarlyPipeProxy.EndToEnd.Tests.Infrastructure;

/// <summary>Runs tests/peers/lockstep-send.py, the strictly lockstep legacy sender, and reads its --json reports.</summary>
public static class LockstepSender
{
    private static readonly JsonSerializerOptions JsonOptions = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    public static async Task<LockstepSendResult> SendAsync(LockstepSendOptions options)
    {
        var scriptsDir = Peers.ScriptsDir ?? throw new InvalidOperationException("tests/peers not found");
        var psi = new ProcessStartInfo("python3")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(Path.Combine(scriptsDir, "lockstep-send.py"));
        void Arg(string name, string value)
        {
            psi.ArgumentList.Add(name);
            psi.ArgumentList.Add(value);
        }

        Arg("--host", options.Host);
        Arg("--port", options.Port.ToString(CultureInfo.InvariantCulture));
        Arg("--helo", options.Helo);
        Arg("--from", options.From);
        foreach (var to in options.To)
        {
            Arg("--to", to);
        }

        Arg("--messages", options.Messages.ToString(CultureInfo.InvariantCulture));
        Arg("--connections", options.Connections.ToString(CultureInfo.InvariantCulture));
        Arg("--subject", options.Subject);
        Arg("--message-id", options.MessageIdPrefix);
        Arg("--timeout", options.ReplyTimeout.TotalSeconds.ToString(CultureInfo.InvariantCulture));
        string? bodyFile = null;
        if (options.Body is not null)
        {
            bodyFile = Path.GetTempFileName();
            await File.WriteAllTextAsync(bodyFile, options.Body);
            Arg("--body-file", bodyFile);
        }

        psi.ArgumentList.Add("--json");
        try
        {
            using var process = Process.Start(psi) ?? throw new InvalidOperationException("cannot start python3");
            var stdoutTask = process.StandardOutput.ReadToEndAsync();
            var stderrTask = process.StandardError.ReadToEndAsync();
            var limit = options.ReplyTimeout * (options.Connections * (6 + options.Messages * (4 + options.To.Count))) + TimeSpan.FromSeconds(30);
            using var cts = new CancellationTokenSource(limit);
            try
            {
                await process.WaitForExitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                throw new TimeoutException($"lockstep-send.py did not finish in {limit}:\n{await stdoutTask}\n{await stderrTask}");
            }

            var stdout = await stdoutTask;
            var stderr = await stderrTask;
            var reports = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .Select(line => JsonSerializer.Deserialize<LockstepConnectionReport>(line, JsonOptions)
                    ?? throw new InvalidOperationException("lockstep-send.py printed null: " + line))
                .ToList();
            if (reports.Count != options.Connections)
            {
                throw new InvalidOperationException(
                    $"lockstep-send.py (exit {process.ExitCode}) reported {reports.Count} of {options.Connections} connections:\n{stdout}\n{stderr}");
            }

            return new LockstepSendResult(process.ExitCode, reports, stderr);
        }
        finally
        {
            if (bodyFile is not null)
            {
                File.Delete(bodyFile);
            }
        }
    }
}
