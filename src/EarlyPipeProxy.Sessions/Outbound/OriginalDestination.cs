using System.Diagnostics.CodeAnalysis;
using System.Net;
using System.Net.Sockets;

namespace EarlyPipeProxy.Sessions.Outbound;

public static class OriginalDestination
{
    public static bool TryGet(Socket socket, [NotNullWhen(true)] out IPEndPoint? destination)
    {
        destination = null;
        return false;
    }
}
