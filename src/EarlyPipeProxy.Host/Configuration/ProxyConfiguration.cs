using System.Net;
using EarlyPipeProxy.Host.Control;
using EarlyPipeProxy.Host.Telemetry;
using EarlyPipeProxy.Sessions.Configuration;
using EarlyPipeProxy.Sessions.EhloCache;

namespace EarlyPipeProxy.Host.Configuration;

/// <summary>
/// What <see cref="ConfigurationLoader"/> made of the config file and its overrides: every section bound and checked,
/// the listeners built, or the problems that stop the proxy from starting.
/// </summary>
public sealed class ProxyConfiguration
{
    public required string ConfigPath { get; init; }

    /// <summary>The merged sources (file, environment, command line), for the registrations that read their own sections.</summary>
    public required IConfigurationRoot Configuration { get; init; }

    /// <summary>Everything wrong, one entry per problem; empty when the proxy can start with this configuration.</summary>
    public required IReadOnlyList<ConfigurationProblem> Problems { get; init; }

    public EarlyPipeOptions Options { get; init; } = new();

    public EhloCacheOptions EhloCache { get; init; } = new();

    public ControlOptions Control { get; init; } = new();

    public MetricsOptions Metrics { get; init; } = new();

    public IReadOnlyList<InboundListener> Inbound { get; init; } = [];

    public IReadOnlyList<OutboundListener> Outbound { get; init; } = [];

    public bool IsValid => Problems.Count == 0;

    /// <summary>
    /// Listeners that cannot be opened although the configuration is valid: their certificate or key does not load
    /// (missing, unreadable, not PEM). `run` keeps such a listener closed and opens the others, as long as one is left
    /// (README, TLS); `config check` reports them and fails.
    /// </summary>
    public IEnumerable<ConfigurationProblem> ListenerProblems()
    {
        for (var i = 0; i < Inbound.Count; i++)
        {
            if (Inbound[i].Problem is { } problem)
            {
                yield return new ConfigurationProblem(ConfigPath, $"Inbound:{i}:Tls:CertificatePath", problem + " (run keeps this listener closed)");
            }
        }

        for (var i = 0; i < Outbound.Count; i++)
        {
            if (Outbound[i].Problem is { } problem)
            {
                yield return new ConfigurationProblem(ConfigPath, $"Outbound:{i}:SenderTls:CertificatePath", problem + " (run keeps this listener closed)");
            }
        }
    }

    /// <summary>Whether at least one SMTP listener can be opened.</summary>
    public bool CanListen => Inbound.Any(l => l.Problem is null) || Outbound.Any(l => l.Problem is null);

    /// <summary>Metrics:Listen parsed; null when no HTTP endpoint is configured.</summary>
    public IPEndPoint? MetricsEndPoint { get; init; }

    /// <summary>Every address the proxy listens on, with the key that configures it ("Inbound:0:Listen").</summary>
    public IEnumerable<(string Key, IPEndPoint EndPoint)> ListenEndPoints()
    {
        for (var i = 0; i < Inbound.Count; i++)
        {
            yield return ($"Inbound:{i}:Listen", Inbound[i].ListenEndPoint);
        }

        for (var i = 0; i < Outbound.Count; i++)
        {
            yield return ($"Outbound:{i}:Listen", Outbound[i].ListenEndPoint);
        }

        if (MetricsEndPoint is not null)
        {
            yield return ("Metrics:Listen", MetricsEndPoint);
        }
    }
}
