using System.IO.Pipelines;
using System.Net.Security;

namespace EarlyPipeProxy.Sessions.Tests.TestSupport;

/// <summary>
/// The SMTP client's end of an in-memory connection. <see cref="SessionSide"/> goes to the session; the test writes
/// and reads here. When the session ends, <see cref="SessionEnded"/> closes the session's side the way Kestrel does
/// when a connection handler returns (unflushed output is still delivered, then EOF).
/// After <see cref="StartTlsAsync"/> everything the test sends and reads goes through the client's TLS layer.
/// </summary>
#pragma warning disable CA1001 // The SslStream lives as long as the in-memory connection; the harness ends both.
public sealed class TestClient
#pragma warning restore CA1001
{
    private readonly Pipe _toSession = new();
    private readonly Pipe _fromSession = new();
    private readonly List<byte> _unread = [];
    private readonly TaskCompletionSource _connectionClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private PipeReader _incoming;
    private SslStream? _tls;
    private bool _eof;
    private bool _disconnected;

    public TestClient()
    {
        SessionSide = new DuplexPipe(_toSession.Reader, _fromSession.Writer);
        _incoming = _fromSession.Reader;
    }

    public IDuplexPipe SessionSide { get; }

    /// <summary>
    /// What the session wrote toward the client and has not flushed yet: its replies held in the proxy beyond the
    /// pipe (which pauses the session's flushes at its threshold while the client does not read).
    /// </summary>
    public long SessionUnflushedBytes => _fromSession.Writer.UnflushedBytes;

    /// <summary>The client's TLS layer once <see cref="StartTlsAsync"/> succeeded.</summary>
    public SslStream? Tls => _tls;

    /// <summary>The hash of the certificate the server presented in the handshake.</summary>
    public string? ServerCertificateHash { get; private set; }

    /// <summary>The server's close_notify arrived (the TLS layer reported its end of data).</summary>
    public bool CloseNotifyReceived { get; private set; }

    /// <summary>Why reading the TLS layer failed, if it did (treated as the end of the connection).</summary>
    public Exception? TlsReadError { get; private set; }

    /// <summary>
    /// The client side of a TLS handshake over the connection (after the 220 to STARTTLS, or at once for
    /// TLS-on-connect). Nothing may be unread at that point. Fails the test when the handshake fails.
    /// </summary>
    public async Task StartTlsAsync(string targetHost = TestCertificate.HostName)
    {
        Assert.True(_tls is null, "TLS is already active");
        Assert.True(_unread.Count == 0 && !_eof, $"cleartext not read before the handshake: '{Wire.Visible(Wire.Text(_unread.ToArray()))}' (eof: {_eof})\n{Diagnostics()}");
        var stream = new SslStream(new PipeStream(_fromSession.Reader, _toSession.Writer), leaveInnerStreamOpen: false);
        var options = new SslClientAuthenticationOptions
        {
            TargetHost = targetHost,
            AllowRenegotiation = false,
            // The chain is self-signed: the check is that the server presents exactly the test certificate.
            RemoteCertificateValidationCallback = (_, certificate, _, _) =>
            {
                ServerCertificateHash = certificate?.GetCertHashString();
                return string.Equals(ServerCertificateHash, TestCertificate.Instance.Thumbprint, StringComparison.OrdinalIgnoreCase);
            },
        };
        using var bound = new CancellationTokenSource(Wire.Patience);
        try
        {
            await stream.AuthenticateAsClientAsync(options, bound.Token);
        }
        catch (Exception ex) when (ex is System.Security.Authentication.AuthenticationException or IOException or OperationCanceledException)
        {
            await stream.DisposeAsync();
            Assert.Fail($"client TLS handshake failed: {ex}\n{Diagnostics()}");
        }

        _tls = stream;
        var decrypted = new Pipe();
        _incoming = decrypted.Reader;
        _ = PumpAsync(stream, decrypted.Writer);
    }

    /// <summary>What the harness knows (session log, backend transcript), appended to failure messages.</summary>
    public Func<string> Diagnostics { get; set; } = () => string.Empty;

    public Task SendAsync(string text) => SendAsync(Wire.Bytes(text));

    public async Task SendAsync(byte[] bytes)
    {
        if (_tls is not null)
        {
            await _tls.WriteAsync(bytes);
            await _tls.FlushAsync();
            return;
        }

        await _toSession.Writer.WriteAsync(bytes);
    }

    /// <summary>Octets straight onto the connection, beneath TLS if there is any (garbage, injected cleartext).</summary>
    public async Task SendRawAsync(byte[] bytes) => await _toSession.Writer.WriteAsync(bytes);

    /// <summary>The client closes its side (FIN): the session reads EOF.</summary>
    public void Disconnect()
    {
        if (!_disconnected)
        {
            _disconnected = true;
            _toSession.Writer.Complete();
        }
    }

    internal void SessionEnded()
    {
        _fromSession.Writer.Complete();
        _toSession.Reader.Complete();
    }

    /// <summary>One line without its CRLF; null at EOF. Fails when nothing arrives in time or the line lacks CRLF.</summary>
    public async Task<string?> ReadLineAsync()
    {
        while (true)
        {
            var lf = _unread.IndexOf((byte)'\n');
            if (lf >= 0)
            {
                var line = Wire.Text(_unread.GetRange(0, lf + 1).ToArray());
                _unread.RemoveRange(0, lf + 1);
                Assert.True(line.EndsWith("\r\n", StringComparison.Ordinal), $"reply line without CRLF: '{Wire.Visible(line)}'");
                return line[..^2];
            }

            if (!await FillAsync(Wire.Patience))
            {
                Assert.True(_unread.Count == 0, $"EOF after a partial line: '{Wire.Visible(Wire.Text(_unread.ToArray()))}'");
                return null;
            }
        }
    }

    /// <summary>All lines of one reply ("ddd-" lines up to the "ddd " line). Fails at EOF.</summary>
    public async Task<string[]> ReadReplyAsync()
    {
        var lines = new List<string>();
        while (true)
        {
            var line = await ReadLineAsync();
            Assert.True(line is not null, $"EOF while waiting for a reply; got so far: [{string.Join(" | ", lines)}]\n{Diagnostics()}");
            lines.Add(line);
            if (line.Length < 4 || line[3] != '-')
            {
                return [.. lines];
            }
        }
    }

    /// <summary>Everything until the session closes the connection (over TLS: close_notify, then the connection's end).</summary>
    public async Task<string> ReadToEndAsync()
    {
        var text = await ReadToTlsEndAsync();
        if (_tls is not null)
        {
            try
            {
                await _connectionClosed.Task.WaitAsync(Wire.Patience);
            }
            catch (TimeoutException)
            {
                Assert.Fail($"the session ended TLS (close_notify: {CloseNotifyReceived}) but did not close the connection within {Wire.Patience.TotalSeconds}s\n{Diagnostics()}");
            }
        }

        return text;
    }

    /// <summary>
    /// Everything until the end of data: over TLS the session's close_notify (or the connection's end), in cleartext
    /// the connection's end. A client that hangs up after that does not depend on the session closing first.
    /// </summary>
    public async Task<string> ReadToTlsEndAsync()
    {
        while (await FillAsync(Wire.Patience))
        {
        }

        var text = Wire.Text(_unread.ToArray());
        _unread.Clear();
        return text;
    }

    /// <summary>True when nothing at all (no byte, no EOF) arrives within <paramref name="window"/>.</summary>
    public async Task<bool> IsQuietAsync(TimeSpan window)
    {
        if (_unread.Count > 0 || _eof)
        {
            return false;
        }

        using var cts = new CancellationTokenSource(window);
        try
        {
            var result = await _incoming.ReadAsync(cts.Token);
            Take(result);
            return false;
        }
        catch (OperationCanceledException)
        {
            return true;
        }
    }

    /// <summary>False at EOF; fails the test when neither data nor EOF arrives within <paramref name="timeout"/>.</summary>
    private async Task<bool> FillAsync(TimeSpan timeout)
    {
        if (_eof)
        {
            return false;
        }

        using var cts = new CancellationTokenSource(timeout);
        ReadResult result;
        try
        {
            result = await _incoming.ReadAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            var tls = _tls is null ? string.Empty : $" (TLS: close_notify received: {CloseNotifyReceived}, read error: {TlsReadError?.Message ?? "none"})";
            Assert.Fail($"no reply from the session within {timeout.TotalSeconds}s{tls}; unread: '{Wire.Visible(Wire.Text(_unread.ToArray()))}'\n{Diagnostics()}");
            throw;
        }

        var before = _unread.Count;
        Take(result);
        return _unread.Count > before || !_eof;
    }

    private void Take(ReadResult result)
    {
        foreach (var segment in result.Buffer)
        {
            _unread.AddRange(segment.Span);
        }

        _eof = result.IsCompleted;
        _incoming.AdvanceTo(result.Buffer.End);
    }

    /// <summary>
    /// Decrypts into a pipe that the reads above use, up to the TLS layer's end of data (close_notify). That is not
    /// yet the end of the connection, which comes when the session's side closes, as in cleartext.
    /// </summary>
    private async Task PumpAsync(SslStream stream, PipeWriter decrypted)
    {
        var ended = false;
        try
        {
            while (true)
            {
                var read = await stream.ReadAsync(decrypted.GetMemory(4096));
                if (read == 0)
                {
                    CloseNotifyReceived = true;
                    break;
                }

                decrypted.Advance(read);
                if ((await decrypted.FlushAsync()).IsCompleted)
                {
                    break;
                }
            }

            ended = true;
            await decrypted.CompleteAsync();

            // Whatever still comes is not TLS data for us; wait for the connection itself to close.
            while (true)
            {
                var rest = await _fromSession.Reader.ReadAsync();
                _fromSession.Reader.AdvanceTo(rest.Buffer.End);
                if (rest.IsCompleted)
                {
                    break;
                }
            }
        }
        catch (Exception ex)
        {
            TlsReadError = ex;
            if (!ended)
            {
                await decrypted.CompleteAsync();
            }
        }

        _connectionClosed.TrySetResult();
    }
}
