using System.CommandLine;
using EarlyPipeProxy.Host.Configuration;

namespace EarlyPipeProxy.Host.Cli;

/// <summary>--config FILE (-c FILE), one instance per verb that reads the configuration.</summary>
public static class ConfigFileOption
{
    public static Option<string> Create() => new("--config", "-c")
    {
        Description = "The configuration file",
        HelpName = "FILE",
        DefaultValueFactory = _ => ConfigurationLoader.DefaultPath,
    };
}
