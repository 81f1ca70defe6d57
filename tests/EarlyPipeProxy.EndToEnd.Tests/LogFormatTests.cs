using System.Text.Json;
using EarlyPipeProxy.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace EarlyPipeProxy.EndToEnd.Tests;

/// <summary>
/// Logging:Format: the proxy's console lines as JSON objects or with journald's priority prefixes. The session is one
/// whose backend port is closed: the proxy logs a warning (backend unavailable) and the session line, no peer needed.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class LogFormatTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Json_EveryLineIsOneObject_AndTheSessionLineCarriesItsFields()
    {
        await using var proxy = await StartWithFormatAsync("json");

        await ConnectToDeadBackendAsync(proxy["smtp"].ListenPort);
        await proxy.WaitForOutputAsync(l => l.Contains("\"EventId\":100,", StringComparison.Ordinal), "a JSON session line");

        var stdout = proxy.OutputLines.Where(l => !l.StartsWith("stderr: ", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(stdout);
        var objects = stdout.Select(l => JsonDocument.Parse(l).RootElement).ToList();
        foreach (var line in objects)
        {
            Assert.Equal(JsonValueKind.Object, line.ValueKind);
            Assert.True(DateTimeOffset.TryParse(line.GetProperty("Timestamp").GetString(), out _), "Timestamp: " + line);
            Assert.False(string.IsNullOrEmpty(line.GetProperty("LogLevel").GetString()));
            Assert.False(string.IsNullOrEmpty(line.GetProperty("Category").GetString()));
            Assert.Equal(JsonValueKind.Number, line.GetProperty("EventId").ValueKind);
            Assert.False(string.IsNullOrEmpty(line.GetProperty("Message").GetString()));
        }

        var session = Assert.Single(objects, o => o.GetProperty("EventId").GetInt32() == 100);
        Assert.Equal("Information", session.GetProperty("LogLevel").GetString());
        var message = session.GetProperty("Message").GetString()!;
        Assert.StartsWith("session H=[127.0.0.1]:", message, StringComparison.Ordinal);
        var state = session.GetProperty("State");
        Assert.Equal("session", state.GetProperty("Kind").GetString());
        Assert.Equal("smtp", state.GetProperty("Listener").GetString());
        Assert.Equal("127.0.0.1", state.GetProperty("PeerAddress").GetString());
        // The field and the line agree, and the quotes of end="…" are plain JSON escapes, not \u0022.
        Assert.Contains($"end=\"{state.GetProperty("End").GetString()}\"", message, StringComparison.Ordinal);
        Assert.Contains("end=\\\"", stdout.Single(l => l.Contains("\"EventId\":100,", StringComparison.Ordinal)), StringComparison.Ordinal);

        var warning = Assert.Single(objects, o => o.GetProperty("EventId").GetInt32() == 102);
        Assert.Equal("Warning", warning.GetProperty("LogLevel").GetString());
    }

    [Fact]
    public async Task Systemd_InformationIsPriority6_WarningsPriority4_TheTextUnchanged()
    {
        await using var proxy = await StartWithFormatAsync("systemd");

        await ConnectToDeadBackendAsync(proxy["smtp"].ListenPort);
        var session = await proxy.WaitForOutputAsync(l => l.Contains("session H=", StringComparison.Ordinal), "the session line");
        var warning = await proxy.WaitForOutputAsync(l => l.Contains(" unavailable for H=", StringComparison.Ordinal), "the backend warning");

        Assert.StartsWith("<6>session H=[127.0.0.1]:", session, StringComparison.Ordinal);
        Assert.StartsWith("<4>warning: backend B=127.0.0.1:", warning, StringComparison.Ordinal);
        Assert.All(
            proxy.OutputLines.Where(l => !l.StartsWith("stderr: ", StringComparison.Ordinal)),
            l => Assert.Matches("^<[0-7]>", l));
    }

    [Fact]
    public async Task Text_IsTheDefault_TimestampThenTheExim_styleLine()
    {
        await using var proxy = await ProxyProcess.StartAsync(output, new ListenerSpec("smtp", Peers.FreePort()));

        await ConnectToDeadBackendAsync(proxy["smtp"].ListenPort);
        var session = await proxy.WaitForOutputAsync(l => l.Contains("session H=", StringComparison.Ordinal), "the session line");

        Assert.Matches(@"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} session H=\[127\.0\.0\.1\]:", session);
    }

    private Task<ProxyProcess> StartWithFormatAsync(string format) =>
        ProxyProcess.StartAsync(
            output,
            new Dictionary<string, object> { ["Logging"] = new { Format = format } },
            new ListenerSpec("smtp", Peers.FreePort()));

    /// <summary>A client of a listener whose backend port is closed: the proxy answers 421 and closes.</summary>
    private async Task ConnectToDeadBackendAsync(int port)
    {
        await using var client = await RawSmtpClient.ConnectAsync("127.0.0.1", port);
        var replies = await client.ReadRepliesUntilCloseAsync(TimeSpan.FromSeconds(30));
        output.WriteLine(client.Transcript);
        Assert.Contains(replies, r => r.Code == 421);
    }
}
