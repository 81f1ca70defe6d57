using System.Text;
using EarlyPipeProxy.Host.Telemetry;
using EarlyPipeProxy.Sessions.Telemetry;

namespace EarlyPipeProxy.EndToEnd.Tests;

/// <summary>
/// The bridge keeps each series' collector child (<see cref="SeriesKey"/>): series that differ in one label value stay
/// apart, each counts every measurement, and histograms and up-down counters land as before.
/// </summary>
public sealed class PrometheusMeterBridgeTests
{
    [Fact]
    public async Task Series_that_differ_in_one_label_are_counted_apart_and_whole()
    {
        // Arrange: a listener name of its own, since every ProxyMetrics in the process is bridged.
        var listener = "bridge-" + Guid.NewGuid().ToString("N")[..8];
        using var bridge = new PrometheusMeterBridge(Prometheus.Metrics.NewCustomRegistry());
        using var metrics = new ProxyMetrics();

        // Act
        for (var i = 0; i < 3; i++)
        {
            metrics.SessionEnded(new SessionSummary(listener, Direction.Inbound, "used", "none", "completed", 1, 0, 2, null, 10, 20));
        }

        metrics.SessionEnded(new SessionSummary(listener, Direction.Inbound, "advertised", "none", "completed", 0, 1, 0, null, 5, 7));
        metrics.Reply(listener, Direction.Inbound, 250);
        metrics.Reply(listener, Direction.Inbound, 250);
        metrics.Reply(listener, Direction.Inbound, 550);
        metrics.ConnectionOpened(listener, Direction.Inbound);
        metrics.ConnectionOpened(listener, Direction.Inbound);
        metrics.ConnectionClosed(listener, Direction.Inbound);
        metrics.UpstreamReplied(listener, Direction.Inbound, TimeSpan.FromMilliseconds(2));
        metrics.UpstreamReplied(listener, Direction.Inbound, TimeSpan.FromMilliseconds(40));

        // Assert
        var text = await ExpositionAsync(bridge);
        var session = $"listener=\"{listener}\",direction=\"inbound\"";
        Assert.Contains($"earlypipe_sessions_total{{{session},early=\"used\",tls=\"none\",outcome=\"completed\"}} 3", text, StringComparison.Ordinal);
        Assert.Contains($"earlypipe_sessions_total{{{session},early=\"advertised\",tls=\"none\",outcome=\"completed\"}} 1", text, StringComparison.Ordinal);
        Assert.Contains($"earlypipe_messages_total{{{session},outcome=\"accepted\"}} 3", text, StringComparison.Ordinal);
        Assert.Contains($"earlypipe_messages_total{{{session},outcome=\"rejected\"}} 1", text, StringComparison.Ordinal);
        Assert.Contains($"earlypipe_bytes_total{{{session},flow=\"from_client\"}} 35", text, StringComparison.Ordinal);
        Assert.Contains($"earlypipe_bytes_total{{{session},flow=\"to_client\"}} 67", text, StringComparison.Ordinal);
        Assert.Contains($"earlypipe_replies_total{{{session},class=\"2xx\"}} 2", text, StringComparison.Ordinal);
        Assert.Contains($"earlypipe_replies_total{{{session},class=\"5xx\"}} 1", text, StringComparison.Ordinal);
        Assert.Contains($"earlypipe_active_connections{{{session}}} 1", text, StringComparison.Ordinal);
        Assert.Contains($"earlypipe_upstream_reply_seconds_count{{{session}}} 2", text, StringComparison.Ordinal);
        Assert.Contains($"earlypipe_upstream_reply_seconds_bucket{{{session},le=\"0.0025\"}} 1", text, StringComparison.Ordinal);
    }

    private static async Task<string> ExpositionAsync(PrometheusMeterBridge bridge)
    {
        using var stream = new MemoryStream();
        await bridge.Registry.CollectAndExportAsTextAsync(stream);
        return Encoding.UTF8.GetString(stream.ToArray());
    }
}
