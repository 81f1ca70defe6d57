using System.Net.Sockets;
using System.Text;

namespace EarlyPipeProxy.Host.Control;

/// <summary>The CLI's side of the control socket: one request line out, the whole answer back.</summary>
public static class ControlClient
{
    /// <summary>Far beyond any real cache's listing; only a runaway peer reaches it.</summary>
    private const int MaxAnswerLength = 64 * 1024 * 1024;

    /// <summary>
    /// The proxy's answer, or null when no proxy listens on <paramref name="socketPath"/> (no file, or a file left by a
    /// proxy that is gone). Anything else that goes wrong (permission denied, a timeout) throws: the proxy may be
    /// running, so the caller must not fall back to opening the file behind its back.
    /// </summary>
    public static async ValueTask<string?> TryRequestAsync(string socketPath, string requestLine, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(requestLine);
        if (!File.Exists(socketPath))
        {
            return null;
        }

        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(timeout);
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), limit.Token);
        }
        catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionRefused or SocketError.AddressNotAvailable)
        {
            return null;
        }

        await socket.SendAsync(Encoding.UTF8.GetBytes(requestLine + "\n"), SocketFlags.None, limit.Token);
        socket.Shutdown(SocketShutdown.Send);

        using var answer = new MemoryStream();
        var buffer = new byte[16 * 1024];
        int read;
        while ((read = await socket.ReceiveAsync(buffer, SocketFlags.None, limit.Token)) > 0)
        {
            if (answer.Length + read > MaxAnswerLength)
            {
                throw new InvalidDataException($"the answer on {socketPath} is longer than {MaxAnswerLength} bytes");
            }

            answer.Write(buffer, 0, read);
        }

        return Encoding.UTF8.GetString(answer.GetBuffer(), 0, (int)answer.Length);
    }
}
