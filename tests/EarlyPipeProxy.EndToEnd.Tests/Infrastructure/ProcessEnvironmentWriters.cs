namespace EarlyPipeProxy.EndToEnd.Tests.Infrastructure;

/// <summary>
/// Tests that set EARLYPIPE__ environment variables in this process run alone: every process another test starts (a
/// proxy, `earlypipe config check`) inherits the environment, and would run with their overrides.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessEnvironmentWriters
{
    public const string Name = "process environment writers";
}
