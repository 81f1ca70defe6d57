using System.IO.Pipelines;

namespace EarlyPipeProxy.Sessions.Tests.TestSupport;

/// <summary>
/// The SMTP client's end of an in-memory connection. <see cref="SessionSide"/> goes to the session; the test writes
/// and reads here. When the session ends, <see cref="SessionEnded"/> closes the session's side the way Kestrel does
/// when a connection handler returns (unflushed output is still delivered, then EOF).
/// </summary>
public sealed class TestClient
{
    private readonly Pipe _toSession = new();
    private readonly Pipe _fromSession = new();
    private readonly List<byte> _unread = [];
    private bool _eof;
    private bool _disconnected;

    public TestClient() => SessionSide = new DuplexPipe(_toSession.Reader, _fromSession.Writer);

    public IDuplexPipe SessionSide { get; }

    /// <summary>What the harness knows (session log, backend transcript), appended to failure messages.</summary>
    public Func<string> Diagnostics { get; set; } = () => string.Empty;

    public Task SendAsync(string text) => SendAsync(Wire.Bytes(text));

    public async Task SendAsync(byte[] bytes)
    {
        await _toSession.Writer.WriteAsync(bytes);
    }

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

    /// <summary>Everything until the session closes the connection.</summary>
    public async Task<string> ReadToEndAsync()
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
            var result = await _fromSession.Reader.ReadAsync(cts.Token);
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
            result = await _fromSession.Reader.ReadAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"no reply from the session within {timeout.TotalSeconds}s; unread: '{Wire.Visible(Wire.Text(_unread.ToArray()))}'\n{Diagnostics()}");
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
        _fromSession.Reader.AdvanceTo(result.Buffer.End);
    }
}
