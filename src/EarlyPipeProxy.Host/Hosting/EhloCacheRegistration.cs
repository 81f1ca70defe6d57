using EarlyPipeProxy.Sessions.EhloCache;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace EarlyPipeProxy.Host.Hosting;

/// <summary>
/// The process's one <see cref="EhloCache"/>: a LiteDB file has a single writer, so every outbound listener and the
/// control socket share this instance. Kept out of <see cref="ProxyHost.Build"/> so that listeners can be added there
/// without touching the cache's wiring.
/// </summary>
public static class EhloCacheRegistration
{
    /// <summary>The "EhloCache" section with <see cref="EhloCacheOptions.DatabasePath"/> taken relative to the config file.</summary>
    public static EhloCacheOptions ReadOptions(IConfiguration configuration, string configPath)
    {
        var options = configuration.GetSection(EhloCacheOptions.SectionName).Get<EhloCacheOptions>() ?? new EhloCacheOptions();
        options.DatabasePath = ConfigRelativePath.Resolve(options.DatabasePath, configPath);
        return options;
    }

    public static IServiceCollection AddEhloCache(this IServiceCollection services, IConfiguration configuration, string configPath)
    {
        var options = ReadOptions(configuration, configPath);
        services.TryAddSingleton(TimeProvider.System);

        // The container disposes the cache when the host is disposed, after every hosted service (Kestrel and its
        // sessions included) has stopped; DisposeAsync writes what is still pending, so nothing learnt late is lost.
        services.AddSingleton(provider =>
        {
            OperatorDirectory.EnsureFor(options.DatabasePath);
            return EhloCache.Open(
                options,
                provider.GetRequiredService<TimeProvider>(),
                provider.GetRequiredService<ILoggerFactory>().CreateLogger<EhloCache>());
        });
        services.AddHostedService<EhloCacheOpener>();
        return services;
    }
}
