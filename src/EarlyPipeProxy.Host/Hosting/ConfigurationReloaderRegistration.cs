using EarlyPipeProxy.Host.Telemetry;
using EarlyPipeProxy.Sessions.Configuration;
using EarlyPipeProxy.Sessions.Telemetry;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace EarlyPipeProxy.Host.Hosting;

/// <summary>Wires the <see cref="ConfigurationReloader"/> (SIGHUP, certificate files) into the host.</summary>
public static class ConfigurationReloaderRegistration
{
    public static IServiceCollection AddConfigurationReloader(this IServiceCollection services, string configPath)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton(provider => new ConfigurationReloader(
            configPath,
            provider.GetRequiredService<IConfiguration>(),
            provider.GetRequiredService<IReadOnlyList<InboundListener>>(),
            provider.GetRequiredService<IReadOnlyList<OutboundListener>>(),
            provider.GetRequiredService<HealthState>(),
            provider.GetRequiredService<ProxyMetrics>(),
            provider.GetRequiredService<TimeProvider>(),
            provider.GetRequiredService<ILogger<ConfigurationReloader>>()));
        services.AddHostedService(provider => provider.GetRequiredService<ConfigurationReloader>());
        return services;
    }
}
