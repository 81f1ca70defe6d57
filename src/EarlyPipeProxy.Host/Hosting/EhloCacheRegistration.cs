using EarlyPipeProxy.Sessions.EhloCache;

namespace EarlyPipeProxy.Host.Hosting;

/// <summary>The process's one EHLO cache (one LiteDB file has one writer), opened from the "EhloCache" section.</summary>
public static class EhloCacheRegistration
{
    public static IServiceCollection AddEhloCache(this IServiceCollection services, IConfiguration configuration, string configPath)
    {
        var options = configuration.GetSection(EhloCacheOptions.SectionName).Get<EhloCacheOptions>() ?? new EhloCacheOptions();
        if (options.DatabasePath is { Length: > 0 } path)
        {
            // Relative to the config file, so the same config works from any working directory.
            options.DatabasePath = Path.GetFullPath(path, Path.GetDirectoryName(Path.GetFullPath(configPath))!);
            Directory.CreateDirectory(Path.GetDirectoryName(options.DatabasePath)!);
        }

        // The container disposes it (IAsyncDisposable) at shutdown, after the sessions: pending writes reach the file.
        return services.AddSingleton(provider => EhloCache.Open(options, TimeProvider.System, provider.GetRequiredService<ILogger<EhloCache>>()));
    }
}
