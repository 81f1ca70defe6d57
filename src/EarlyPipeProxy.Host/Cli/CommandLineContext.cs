namespace EarlyPipeProxy.Host.Cli;

/// <summary>What every verb's action needs besides its parsed options: the configuration overrides and where to write.</summary>
/// <param name="Overrides">The --Section:Key=value arguments, taken out of the command line before it is parsed.</param>
public sealed record CommandLineContext(IReadOnlyList<string> Overrides, TextWriter Output, TextWriter Error);
