using System.Net;

namespace EarlyPipeProxy.Sessions.Configuration;

/// <summary>
/// A listener's per-client trace ("Trace": { "Clients": [ … ] }): for a peer whose address is on the list, every
/// command and reply crossing the proxy on its session is logged (see <see cref="Tracing.SessionTrace"/>). For
/// diagnosing one peer, never for everyone: the list is addresses and CIDR networks as in <see cref="AddressList"/>.
/// </summary>
/// <remarks>
/// Looked at when a session starts, from the listener's options as they are then, so a reload of the options can
/// switch a trace on or off for the sessions that follow. The compiled list is kept with the array it came from and
/// rebuilt only when that array is replaced.
/// </remarks>
public sealed class TraceOptions
{
    private Tuple<string[], AddressList>? _compiled;

    /// <summary>Addresses and CIDR networks of the peers to trace; empty (the default): no session is traced.</summary>
    public string[] Clients { get; set; } = [];

    /// <summary>Whether sessions from <paramref name="address"/> are traced. Throws <see cref="FormatException"/> for a bad entry.</summary>
    public bool Traces(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        var clients = Clients;
        if (clients is null || clients.Length == 0)
        {
            return false;
        }

        var compiled = Volatile.Read(ref _compiled);
        if (compiled is null || !ReferenceEquals(compiled.Item1, clients))
        {
            compiled = Tuple.Create(clients, AddressList.Parse(clients));
            Volatile.Write(ref _compiled, compiled);
        }

        return compiled.Item2.Contains(address);
    }

    /// <summary>Refuses a list with an entry that is not an address or network, naming the listener.</summary>
    public void Validate(string what)
    {
        try
        {
            _ = Traces(IPAddress.Loopback);
        }
        catch (FormatException ex)
        {
            throw new FormatException($"{what}: Trace:Clients: {ex.Message}", ex);
        }
    }
}
