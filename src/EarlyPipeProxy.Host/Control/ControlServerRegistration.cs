using EarlyPipeProxy.Host.Hosting;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace EarlyPipeProxy.Host.Control;

/// <summary>Wires the control socket when "Control:SocketPath" is set; without it the proxy has no control socket.</summary>
public static class ControlServerRegistration
{
    /// <summary>The "Control" section with <see cref="ControlOptions.SocketPath"/> taken relative to the config file.</summary>
    public static ControlOptions ReadOptions(IConfiguration configuration, string configPath)
    {
        var options = configuration.GetSection(ControlOptions.SectionName).Get<ControlOptions>() ?? new ControlOptions();
        options.SocketPath = ConfigRelativePath.Resolve(options.SocketPath, configPath);
        if (options.RequestTimeout <= TimeSpan.Zero)
        {
            throw new InvalidOperationException($"Control:RequestTimeout must be positive (is {options.RequestTimeout}).");
        }

        return options;
    }

    public static IServiceCollection AddControlServer(this IServiceCollection services, IConfiguration configuration, string configPath)
    {
        var options = ReadOptions(configuration, configPath);
        if (options.SocketPath is not null)
        {
            services.TryAddSingleton(TimeProvider.System);
            services.AddSingleton(options);
            services.AddSingleton<StatusReport>();
            services.AddHostedService<ControlServer>();
        }

        return services;
    }
}
