namespace EarlyPipeProxy.Fuzz.Drivers;

/// <summary>A property of the protocol layer does not hold. Thrown, not asserted, so that AFL++ records it as a crash.</summary>
public sealed class InvariantViolationException : Exception
{
    public InvariantViolationException()
    {
    }

    public InvariantViolationException(string message)
        : base(message)
    {
    }

    public InvariantViolationException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
