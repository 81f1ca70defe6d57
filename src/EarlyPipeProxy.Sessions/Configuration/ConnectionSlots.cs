namespace EarlyPipeProxy.Sessions.Configuration;

/// <summary>A listener's live connection count, capped at <see cref="ListenerLimits.MaxConnections"/> (which a reload may change).</summary>
public sealed class ConnectionSlots(int capacity)
{
    private int _taken;
    private int _capacity = capacity;

    public int Capacity => Volatile.Read(ref _capacity);

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

    /// <summary>A new cap: connections open past a lower one stay, new ones are refused until the count is below it.</summary>
    public void Resize(int capacity) => Volatile.Write(ref _capacity, capacity);
}
