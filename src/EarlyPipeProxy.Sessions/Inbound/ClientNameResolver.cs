using System.Net;
using System.Net.Sockets;

namespace EarlyPipeProxy.Sessions.Inbound;

/// <summary>
/// The client's host name for XCLIENT NAME=, looked up as Postfix would have done it itself: the PTR name counts only
/// when it resolves back to the address (forward-confirmed). Otherwise Postfix's own markers: "[UNAVAILABLE]"
/// (no name) or "[TEMPUNAVAIL]" (the lookup failed for now). Omitting NAME would be worse: Postfix would keep the
/// proxy's own name and print it beside the client's address.
/// </summary>
public static class ClientNameResolver
{
    public const string Unavailable = "[UNAVAILABLE]";
    public const string TemporarilyUnavailable = "[TEMPUNAVAIL]";

    public static async Task<string> ResolveAsync(IPAddress address, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            var entry = await Dns.GetHostEntryAsync(address.ToString(), deadline.Token);
            var name = entry.HostName.TrimEnd('.');
            if (name.Length == 0 || IPAddress.TryParse(name, out _))
            {
                return Unavailable;
            }

            var forward = await Dns.GetHostAddressesAsync(name, deadline.Token);
            return forward.Contains(address) ? name : Unavailable;
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.TryAgain)
        {
            return TemporarilyUnavailable;
        }
        catch (SocketException)
        {
            return Unavailable;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return TemporarilyUnavailable;
        }
    }
}
