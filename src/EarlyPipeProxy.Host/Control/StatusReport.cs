using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text;
using EarlyPipeProxy.Host.Configuration;
using EarlyPipeProxy.Host.Telemetry;
using EarlyPipeProxy.Sessions.Configuration;
using EarlyPipeProxy.Sessions.EhloCache;
using EarlyPipeProxy.Sessions.Tls;

namespace EarlyPipeProxy.Host.Control;

/// <summary>
/// The running proxy's answer to the control socket's `status` request (`earlypipe status`): version and uptime, health
/// as /healthz judges it, the EHLO cache's size, then one block per listener: its address, what it is, its open
/// connections against its maximum, the remote connections an outbound listener keeps warm, the load balancers whose PROXY header it reads, its backend's or fixed upstream's last probe, and the certificate it offers with
/// its expiry. Aligned text for a human; each line starts with its label, so `grep` and `awk` find a field.
/// </summary>
public sealed class StatusReport(
    IReadOnlyList<InboundListener> inbound, IReadOnlyList<OutboundListener> outbound, HealthState health, EhloCache cache, TimeProvider time)
{
    /// <summary>The request line.</summary>
    public const string Request = "status";

    private const int LabelWidth = 13;

    private readonly DateTimeOffset _started = ProcessStart();

    public static bool IsRequest(string line) => string.Equals(line.Trim(), Request, StringComparison.OrdinalIgnoreCase);

    /// <summary>The answer in the control socket's format: `ok`, then the report.</summary>
    public string Answer()
    {
        var now = time.GetUtcNow();
        var text = new StringBuilder(CacheRequestHandler.Ok).Append('\n');
        text.Append(CultureInfo.InvariantCulture,
            $"earlypipe {Version()} (pid {Environment.ProcessId}), up {Span(now - _started)} since {Timestamp(_started)}\n");
        Field(text, "health", health.IsHealthy ? "healthy (/healthz 200)" : "unhealthy (/healthz 503): " + Unhealthy());
        Field(text, "EHLO cache", $"{cache.Count} {(cache.Count == 1 ? "entry" : "entries")}{(cache.IsPersistent ? string.Empty : " (in memory only)")}");

        foreach (var listener in inbound)
        {
            var options = listener.Options;
            text.Append('\n').Append("listener ").Append(listener.Name).Append('\n');
            Field(text, "address", listener.ListenEndPoint.ToString(), indent: true);
            Field(text, "state", health.ListenerState(listener.Name), indent: true);
            var tls = listener.Certificates is null ? "no TLS" : options.ImplicitTls ? "TLS on connect" : "STARTTLS";
            Field(text, "kind", $"inbound, client identity {options.Backend.ClientIdentity}, {tls}"
                + (options.Backend.Tls == BackendTlsMode.StartTls ? ", STARTTLS to the backend" : string.Empty), indent: true);
            if (options.AcceptProxyHeaderFrom is { Length: > 0 } balancers)
            {
                Field(text, "balancers", $"PROXY header from {string.Join(", ", balancers)}"
                    + (options.RequireProxyHeader ? " (required from them)" : " (optional from them)"), indent: true);
            }

            Sessions(text, listener.Connections);
            Upstream(text, UpstreamTarget.For(listener));
            Certificate(text, listener.Certificates, now);
        }

        foreach (var listener in outbound)
        {
            text.Append('\n').Append("listener ").Append(listener.Name).Append('\n');
            Field(text, "address", listener.ListenEndPoint.ToString(), indent: true);
            Field(text, "state", health.ListenerState(listener.Name), indent: true);
            Field(text, "kind", "outbound, " + (listener.Options.EarlyPipelining ? "early pipelining where offered" : "no early pipelining")
                + $", TLS to the remote {listener.Options.Tls.Mode}" + (listener.SenderCertificates is null ? string.Empty : ", STARTTLS for senders"), indent: true);
            Sessions(text, listener.Connections);
            WarmConnections(text, listener);
            if (UpstreamTarget.For(listener) is { } target)
            {
                Upstream(text, target);
            }
            else
            {
                Field(text, "upstream", "each connection's original destination (not probed)", indent: true);
            }

            Certificate(text, listener.SenderCertificates, now);
        }

        return text.ToString();
    }

    private string Unhealthy()
    {
        var down = health.Upstreams.Where(u => health.Get(u) is not { IsUp: true }).Select(u => u.ToString()).ToList();
        if (!health.IsListening)
        {
            down.Insert(0, "listeners not (or no longer) listening");
        }

        down.InsertRange(0, inbound.Select(l => (l.Name, l.Problem)).Concat(outbound.Select(l => (l.Name, l.Problem)))
            .Where(l => l.Problem is not null).Select(l => $"listener {l.Name} not opened: {l.Problem}"));

        return string.Join("; ", down);
    }

    private static void Sessions(StringBuilder text, ConnectionSlots connections) =>
        Field(text, "sessions", $"{connections.Taken} open, max {connections.Capacity}", indent: true);

    /// <summary>The connection cache: how many remote connections are parked now (and about to be), against its bounds.</summary>
    private static void WarmConnections(StringBuilder text, OutboundListener listener)
    {
        var cache = listener.WarmConnections.Options;
        Field(text, "warm", cache.Enabled
            ? $"{listener.WarmConnections.Count} parked, max {cache.MaxConnections} ({cache.MaxConnectionsPerDestination} per remote), "
                + $"idle {Duration.Format(cache.IdleTimeout)}, {cache.MaxMessages} messages or {Duration.Format(cache.MaxAge)} per connection"
            : "off (ConnectionCache:Enabled false)", indent: true);
    }

    private void Upstream(StringBuilder text, UpstreamTarget target)
    {
        var probed = health.Get(target) is { } last ? $" (probed {Span(time.GetUtcNow() - last.CheckedAt)} ago)" : string.Empty;
        Field(text, target.Role, $"{target.EndPoint}: {health.StateOf(target)}{probed}", indent: true);
    }

    private static void Certificate(StringBuilder text, ServerCertificateProvider? certificates, DateTimeOffset now)
    {
        if (certificates is null)
        {
            return;
        }

        var notAfter = certificates.NotAfter;
        var left = notAfter - now;
        Field(text, "certificate", $"{certificates.Subject}, expires {Timestamp(notAfter)} "
            + (left > TimeSpan.Zero ? $"(in {Span(left)})" : $"(EXPIRED {Span(-left)} ago)"), indent: true);
    }

    private static void Field(StringBuilder text, string label, string value, bool indent = false) =>
        text.Append(indent ? "  " : string.Empty).Append(label.PadRight(LabelWidth)).Append(value).Append('\n');

    private static string Version()
    {
        var assembly = typeof(StatusReport).Assembly;
        return assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
            ?? assembly.GetName().Version?.ToString()
            ?? "unknown";
    }

    private static DateTimeOffset ProcessStart()
    {
        using var process = Process.GetCurrentProcess();
        return new DateTimeOffset(process.StartTime.ToUniversalTime(), TimeSpan.Zero);
    }

    private static string Timestamp(DateTimeOffset instant) =>
        instant.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    /// <summary>"3d 4h", "2h 13m", "5m 2s", "12s": the two largest units, enough to read at a glance.</summary>
    private static string Span(TimeSpan span)
    {
        if (span < TimeSpan.Zero)
        {
            span = TimeSpan.Zero;
        }

        return span.TotalDays >= 1 ? $"{(int)span.TotalDays}d {span.Hours}h"
            : span.TotalHours >= 1 ? $"{(int)span.TotalHours}h {span.Minutes}m"
            : span.TotalMinutes >= 1 ? $"{(int)span.TotalMinutes}m {span.Seconds}s"
            : $"{(int)span.TotalSeconds}s";
    }
}
