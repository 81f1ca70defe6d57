using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Text;

namespace EarlyPipeProxy.EndToEnd.Tests.Infrastructure;

/// <summary>One SMTP reply: code and all its lines (without CRLF).</summary>
public sealed record SmtpReply(int Code, IReadOnlyList<string> Lines)
{
    public string Text => string.Join('\n', Lines);

    public override string ToString() => Text;
}

/// <summary>A byte-exact SMTP client on a raw socket, optionally bound to a source address.</summary>
public sealed class RawSmtpClient : IAsyncDisposable
{
    private static readonly TimeSpan ReadTimeout = TimeSpan.FromSeconds(30);
    private readonly Socket _socket;
    private readonly byte[] _buffer = new byte[65536];
    private readonly StringBuilder _transcript = new();
    private int _start;
    private int _end;
    private SslStream? _tls;

    private RawSmtpClient(Socket socket) => _socket = socket;

    public bool Closed { get; private set; }

    /// <summary>After <see cref="StartTlsAsync"/>: the negotiated protocol and cipher suite.</summary>
    public SslStream? Tls => _tls;

    /// <summary>Received bytes not yet returned as reply lines (e.g. cleartext that followed a 220 to STARTTLS).</summary>
    public int BufferedByteCount => _end - _start;

    /// <summary>Bytes waiting in the socket's receive queue (cleartext only; no read is made).</summary>
    public int SocketAvailable => _socket.Available;

    /// <summary>Everything sent (C:) and received (S:) so far, for test output.</summary>
    public string Transcript => _transcript.ToString();

    /// <summary>
    /// A relay attempt from <paramref name="localAddress"/>: EHLO, MAIL, then RCPT to a domain nobody here is final
    /// for; returns the reply to RCPT (a relay refused is 554 5.7.1 from Postfix) and says QUIT.
    /// </summary>
    public static async Task<SmtpReply> TryRelayAsync(int port, string localAddress, string recipientLocalPart, Xunit.Abstractions.ITestOutputHelper output)
    {
        ArgumentNullException.ThrowIfNull(output);
        await using var c = await ConnectAsync("127.0.0.1", port, localAddress);
        try
        {
            await c.ExpectAsync(220);
            await c.CommandAsync("EHLO outsider.test", 250);
            await c.CommandAsync("MAIL FROM:<someone@outsider.test>", 250);
            await c.SendAsync($"RCPT TO:<{recipientLocalPart}@elsewhere.test>\r\n");
            var reply = await c.ReadReplyAsync() ?? throw new InvalidOperationException("closed after RCPT");
            await c.SendAsync("QUIT\r\n");
            await c.ReadRepliesUntilCloseAsync(TimeSpan.FromSeconds(5));
            return reply;
        }
        finally
        {
            output.WriteLine(c.Transcript);
        }
    }

    public static async Task<RawSmtpClient> ConnectAsync(string host, int port, string? localAddress = null)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            if (localAddress is not null)
            {
                socket.Bind(new IPEndPoint(IPAddress.Parse(localAddress), 0));
            }

            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await socket.ConnectAsync(IPAddress.Parse(host), port, cts.Token);
            return new RawSmtpClient(socket);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public async Task SendAsync(byte[] data)
    {
        _transcript.Append(_tls is null ? "C: " : "C(tls): ").Append(Escape(data)).Append('\n');
        if (_tls is not null)
        {
            await _tls.WriteAsync(data);
            await _tls.FlushAsync();
            return;
        }

        await _socket.SendAsync(data, SocketFlags.None);
    }

    /// <summary>
    /// TLS handshake as the client on this connection (after a 220 to STARTTLS, or first thing for TLS on connect);
    /// every certificate is accepted. Fails if cleartext bytes are still buffered: they would have been sent by the
    /// server before its TLS handshake.
    /// </summary>
    public async Task<SslStream> StartTlsAsync(string targetHost = "mx.earlypipe.test", SslProtocols protocols = SslProtocols.None)
    {
        if (BufferedByteCount != 0)
        {
            throw new InvalidOperationException(
                $"{BufferedByteCount} cleartext bytes received before the TLS handshake: " +
                Escape(_buffer.AsSpan(_start, _end - _start).ToArray()) + "\n" + Transcript);
        }

        var tls = new SslStream(new NetworkStream(_socket, ownsSocket: false), leaveInnerStreamOpen: true);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        await tls.AuthenticateAsClientAsync(
            new SslClientAuthenticationOptions
            {
                TargetHost = targetHost,
                EnabledSslProtocols = protocols,
                // A test client against the test CA's certificate: what is verified here is the SMTP framing around TLS.
#pragma warning disable CA5359
                RemoteCertificateValidationCallback = (_, _, _, _) => true,
#pragma warning restore CA5359
            },
            cts.Token);
        _tls = tls;
        _transcript.Append($"-- TLS established: {tls.SslProtocol} {tls.NegotiatedCipherSuite}\n");
        return tls;
    }

    public Task SendAsync(string text) => SendAsync(Encoding.Latin1.GetBytes(text));

    /// <summary>Reads one complete (possibly multi-line) reply; null when the peer closed first.</summary>
    public async Task<SmtpReply?> ReadReplyAsync(TimeSpan? timeout = null)
    {
        var lines = new List<string>();
        while (true)
        {
            var line = await ReadLineAsync(timeout ?? ReadTimeout);
            if (line is null)
            {
                return lines.Count == 0 ? null : new SmtpReply(ParseCode(lines[0]), lines);
            }

            _transcript.Append(_tls is null ? "S: " : "S(tls): ").Append(line).Append('\n');
            lines.Add(line);
            if (line.Length < 4 || line[3] != '-')
            {
                return new SmtpReply(ParseCode(lines[0]), lines);
            }
        }
    }

    /// <summary>Reads a reply and asserts its code.</summary>
    public async Task<SmtpReply> ExpectAsync(int code)
    {
        var reply = await ReadReplyAsync();
        if (reply is null || reply.Code != code)
        {
            throw new InvalidOperationException(
                $"expected {code}, got {(reply is null ? "connection closed" : reply.Text)}\n{Transcript}");
        }

        return reply;
    }

    public async Task<SmtpReply> CommandAsync(string line, int expectedCode)
    {
        await SendAsync(line + "\r\n");
        return await ExpectAsync(expectedCode);
    }

    /// <summary>Reads replies until the peer closes the connection or <paramref name="timeout"/> passes.</summary>
    public async Task<IReadOnlyList<SmtpReply>> ReadRepliesUntilCloseAsync(TimeSpan timeout)
    {
        var replies = new List<SmtpReply>();
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            SmtpReply? reply;
            try
            {
                reply = await ReadReplyAsync(deadline - DateTime.UtcNow);
            }
            catch (TimeoutException)
            {
                break;
            }

            if (reply is null)
            {
                break;
            }

            replies.Add(reply);
        }

        return replies;
    }

    /// <summary>Kills the connection with a TCP RST (SO_LINGER 0), as a crashing client would.</summary>
    public void Reset()
    {
        _socket.LingerState = new LingerOption(true, 0);
        _socket.Close();
        Closed = true;
    }

    public ValueTask DisposeAsync()
    {
        if (!Closed)
        {
            try
            {
                _socket.Shutdown(SocketShutdown.Both);
            }
            catch (SocketException)
            {
            }

            Closed = true;
        }

        _tls?.Dispose();
        _socket.Dispose();
        return ValueTask.CompletedTask;
    }

    private static int ParseCode(string line) =>
        line.Length >= 3 && int.TryParse(line.AsSpan(0, 3), out var code) ? code : -1;

    private static string Escape(byte[] data) =>
        Encoding.Latin1.GetString(data).Replace("\r", "\\r", StringComparison.Ordinal)
            .Replace("\n", "\\n", StringComparison.Ordinal).Replace("\0", "\\0", StringComparison.Ordinal);

    private async Task<string?> ReadLineAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (true)
        {
            var nl = Array.IndexOf(_buffer, (byte)'\n', _start, _end - _start);
            if (nl >= 0)
            {
                var line = Encoding.Latin1.GetString(_buffer, _start, nl - _start).TrimEnd('\r');
                _start = nl + 1;
                return line;
            }

            if (Closed)
            {
                return null;
            }

            if (_start > 0)
            {
                Array.Copy(_buffer, _start, _buffer, 0, _end - _start);
                _end -= _start;
                _start = 0;
            }

            int n;
            try
            {
                n = _tls is not null
                    ? await _tls.ReadAsync(_buffer.AsMemory(_end), cts.Token)
                    : await _socket.ReceiveAsync(_buffer.AsMemory(_end), SocketFlags.None, cts.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException("no complete reply line within " + timeout + "\n" + Transcript);
            }
            catch (Exception e) when (e is SocketException or IOException)
            {
                n = 0; // reset by peer (or a TLS alert) counts as closed
            }

            if (n == 0)
            {
                Closed = true;
                if (_end > _start)
                {
                    var rest = Encoding.Latin1.GetString(_buffer, _start, _end - _start);
                    _start = _end;
                    return rest;
                }

                return null;
            }

            _end += n;
        }
    }
}
