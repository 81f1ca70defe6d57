namespace EarlyPipeProxy.Host.Configuration;

/// <summary>The configuration cannot be used; <see cref="Problems"/> has one entry per thing wrong (its message, one per line).</summary>
public sealed class ConfigurationProblemsException : Exception
{
    public ConfigurationProblemsException(IReadOnlyList<ConfigurationProblem> problems)
        : base(string.Join(Environment.NewLine, problems ?? throw new ArgumentNullException(nameof(problems))))
    {
        Problems = problems;
    }

    public ConfigurationProblemsException()
        : this([])
    {
    }

    public ConfigurationProblemsException(string message)
        : base(message)
    {
        Problems = [new ConfigurationProblem("configuration", string.Empty, message)];
    }

    public ConfigurationProblemsException(string message, Exception innerException)
        : base(message, innerException)
    {
        Problems = [new ConfigurationProblem("configuration", string.Empty, message)];
    }

    public IReadOnlyList<ConfigurationProblem> Problems { get; }
}
