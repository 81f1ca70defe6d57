namespace EarlyPipeProxy.Protocol.Capabilities;

/// <summary>One EHLO extension line: the keyword and its parameters as sent (empty when none).</summary>
public readonly record struct EhloKeyword(string Name, string Parameters)
{
    public override string ToString() => Parameters.Length == 0 ? Name : Name + " " + Parameters;
}
