namespace EarlyPipeProxy.Sessions.Tests.Host;

/// <summary>
/// Tests that set EARLYPIPE__ environment variables run alone: the process's environment is shared, and every test that
/// loads a configuration (ConfigurationLoader adds the environment) would otherwise meet another test's variable.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessEnvironmentWriters
{
    public const string Name = "process environment writers";
}
