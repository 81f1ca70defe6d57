using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using EarlyPipeProxy.Sessions.Outbound;

// Usage: probe LISTEN_ADDRESS PORT CONNECTIONS
// Listens (dual-mode when LISTEN_ADDRESS is "::", as a proxy listening on [::] would), prints "listening", then for
// each of CONNECTIONS accepted connections writes what OriginalDestination.TryGet says -- "original ADDRESS:PORT" or
// "not-redirected" -- to the connection itself (so the client that made it reads its own answer, with no guessing which
// line belongs to which connection) and to stdout (for the test's log), closes it, and exits after the last one.
if (args.Length != 3
    || !IPAddress.TryParse(args[0], out var address)
    || !int.TryParse(args[1], CultureInfo.InvariantCulture, out var port)
    || !int.TryParse(args[2], CultureInfo.InvariantCulture, out var connections))
{
    Console.Error.WriteLine("usage: probe LISTEN_ADDRESS PORT CONNECTIONS");
    return 2;
}

using var listener = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
if (address.Equals(IPAddress.IPv6Any))
{
    listener.DualMode = true;
}

listener.Bind(new IPEndPoint(address, port));
listener.Listen();
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"listening {listener.LocalEndPoint}"));

for (var i = 0; i < connections; i++)
{
    using var connection = await listener.AcceptAsync();
    var answer = OriginalDestination.TryGet(connection, out var destination)
        ? string.Create(CultureInfo.InvariantCulture, $"original {destination}")
        : "not-redirected";
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{connection.RemoteEndPoint} -> {connection.LocalEndPoint}: {answer}"));
    await connection.SendAsync(Encoding.ASCII.GetBytes(answer + "\r\n"));
    connection.Shutdown(SocketShutdown.Both);
}

return 0;
