namespace EarlyPipeProxy.Sessions.Configuration;

/// <summary>A listener's live connection count, capped at <see cref="ListenerLimits.MaxConnections"/>.</summary>
public sealed class ConnectionSlots(int capacity)
{
    private int _taken;

    public int Capacity { get; } = capacity;

    public int Taken => Volatile.Read(ref _taken);

    /// <summary>Takes a slot; false (and nothing taken) when the listener is full.</summary>
    public bool TryTake()
    {
        if (Interlocked.Increment(ref _taken) <= Capacity)
        {
            return true;
        }

        Interlocked.Decrement(ref _taken);
        return false;
    }

    public void Release() => Interlocked.Decrement(ref _taken);
}
