using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using System.Net.Security;

namespace EarlyPipeProxy.Sessions.Tests.TestSupport;

/// <summary>
/// A scripted backend MTA at the far end of an in-memory connection. It records everything it receives, in order,
/// and records a violation whenever it receives a byte before its final greeting line (unless it plays a PIPECONNECT
/// server, <see cref="FakeBackendOptions.AcceptsEarlyInput"/>) or before its 220 after XCLIENT, and, when lockstep
/// (no PIPELINING), whenever more input is already there as it answers a command.
/// It ends DATA bodies leniently, as servers vulnerable to SMTP smuggling do (&lt;LF&gt;.&lt;LF&gt;, &lt;CR&gt;.&lt;CR&gt;&lt;LF&gt;,
/// &lt;CRLF&gt;NUL.&lt;CRLF&gt;…),
/// so that anything but a clean relay shows up as an extra message or command.
/// With <see cref="FakeBackendOptions.StartTlsCertificate"/> it offers STARTTLS and runs the server side of TLS; with
/// <see cref="FakeBackendOptions.TlsOnConnectCertificate"/> the handshake comes first, before anything else (port 465);
/// <see cref="RawReceivedText"/> then shows what went over the wire, <see cref="ReceivedText"/> what it decrypted.
/// </summary>
public sealed class FakeBackend : IAsyncDisposable
{
    // Postfix's ISSPACE (util/sys_defs.h): the C locale's isspace().
    private static readonly char[] PostfixWhitespace = [' ', '\t', '\n', '\v', '\f', '\r'];

    private static readonly SearchValues<char> PostfixWhitespaceValues = SearchValues.Create(PostfixWhitespace);

    private readonly FakeBackendOptions _options;
    private readonly Pipe _fromSession = new();
    private readonly Pipe _toSession = new();
    private readonly List<byte> _unread = [];
    private readonly List<byte> _received = [];
    private readonly List<byte> _raw = [];
    private readonly List<string> _violations = [];
    private readonly List<ReceivedCommand> _commands = [];
    private readonly List<string> _messages = [];
    private readonly List<string> _chunks = [];
    private readonly List<string> _authAnswers = [];
    private readonly List<string> _transcript = [];
    private readonly TaskCompletionSource<bool> _sessionClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _endOfData = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stop = new();
    private readonly object _gate = new();
    private readonly System.Diagnostics.Stopwatch _clock = System.Diagnostics.Stopwatch.StartNew();
    private bool _inputEnded;
    private bool _moreAtLastReply;
    private bool _closedByUs;
    private bool _mailGiven;
    private bool _xclientSeen;
    private bool _idleActed;
    private int _queued;
    private int _bodyScanFrom;
    private Task _run = Task.CompletedTask;
    private PipeReader _input;
    private SslStream? _tls;
    private Task _tlsPump = Task.CompletedTask;

    public FakeBackend(FakeBackendOptions options)
    {
        _options = options;
        SessionSide = new DuplexPipe(_toSession.Reader, _fromSession.Writer);
        _input = _fromSession.Reader;
    }

    /// <summary>The TLS layer once STARTTLS succeeded.</summary>
    public SslStream? Tls => _tls;

    /// <summary>Why the server side of the STARTTLS handshake failed, if it did.</summary>
    public string? TlsHandshakeError { get; private set; }

    /// <summary>Every octet that came over the wire, TLS records included (Latin-1).</summary>
    public string RawReceivedText
    {
        get
        {
            lock (_gate)
            {
                return Wire.Text(_raw.ToArray());
            }
        }
    }

    /// <summary>The pipes the session's <c>UpstreamConnection</c> uses.</summary>
    public IDuplexPipe SessionSide { get; }

    /// <summary>Completes with the abort flag when the session closes the connection.</summary>
    public Task<bool> SessionClosed => _sessionClosed.Task;

    /// <summary>Completes when the end of a message (DATA's terminator, or BDAT LAST's last octet) has arrived.</summary>
    public Task EndOfDataReceived => _endOfData.Task;

    public Task Completion => _run;

    public bool GreetingSent { get; private set; }

    /// <summary>With <see cref="FakeBackendOptions.AcceptsEarlyInput"/>: what had arrived when the final greeting line was due.</summary>
    public string ReceivedBeforeGreeting { get; private set; } = string.Empty;

    public byte[]? ProxyHeader { get; private set; }

    public IReadOnlyList<string> Violations => Snapshot(_violations);

    public IReadOnlyList<ReceivedCommand> Commands => Snapshot(_commands);

    public IReadOnlyList<string> CommandLines => Commands.Select(c => c.Line).ToArray();

    /// <summary>DATA bodies that ended, each up to (not including) the terminating dot, as received.</summary>
    public IReadOnlyList<string> Messages => Snapshot(_messages);

    /// <summary>The terminators the DATA bodies ended with (anything but "\r\n.\r\n" means a smuggling hole).</summary>
    public IReadOnlyList<string> Terminators { get; private set; } = [];

    public IReadOnlyList<string> Chunks => Snapshot(_chunks);

    public IReadOnlyList<string> AuthAnswers => Snapshot(_authAnswers);

    public IReadOnlyList<string> Transcript => Snapshot(_transcript);

    /// <summary>Every byte received, in order (Latin-1).</summary>
    public string ReceivedText
    {
        get
        {
            lock (_gate)
            {
                return Wire.Text(_received.ToArray());
            }
        }
    }

    public string Describe() => string.Join(Environment.NewLine, Transcript) + Environment.NewLine + "violations: " + string.Join("; ", Violations);

    public void Start() => _run = Task.Run(RunAsync);

    /// <summary>The session's side closes: a reset when <paramref name="abort"/>, else a FIN.</summary>
    public ValueTask OnSessionCloseAsync(bool abort)
    {
        Log(abort ? "-- session aborted the connection" : "-- session closed the connection");
        _sessionClosed.TrySetResult(abort);
        _fromSession.Writer.Complete(abort ? new IOException("connection reset by the proxy") : null);
        _toSession.Reader.Complete();
        return ValueTask.CompletedTask;
    }

    /// <summary>Waits until the backend has received text containing <paramref name="fragment"/>.</summary>
    public async Task WaitForReceivedAsync(string fragment)
    {
        var deadline = DateTime.UtcNow + Wire.Patience;
        while (!ReceivedText.Contains(fragment, StringComparison.Ordinal))
        {
            Assert.True(DateTime.UtcNow < deadline, $"the backend never received '{Wire.Visible(fragment)}'; got '{Wire.Visible(ReceivedText)}'");
            await Task.Delay(10);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await _run.WaitAsync(Wire.Patience);
        }
        catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
        {
        }

        _stop.Dispose();
    }

    private async Task RunAsync()
    {
        try
        {
            if (await ReadProxyHeaderAsync() && await GreetAsync())
            {
                await CommandLoopAsync();
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (IOException ex)
        {
            Log("-- input failed: " + ex.Message);
        }
        finally
        {
            await StopTlsPumpAsync();
            await _fromSession.Reader.CompleteAsync();
            await _toSession.Writer.CompleteAsync();
        }
    }

    private async Task<bool> ReadProxyHeaderAsync()
    {
        switch (_options.ExpectProxyHeader)
        {
            case ProxyHeaderKind.V1:
                while (_unread.IndexOf((byte)'\n') < 0)
                {
                    if (!await FillAsync())
                    {
                        return false;
                    }
                }

                ProxyHeader = Take(_unread.IndexOf((byte)'\n') + 1);
                break;
            case ProxyHeaderKind.V2:
                if (!await FillToAsync(16))
                {
                    return false;
                }

                var length = 16 + (_unread[14] << 8) + _unread[15];
                if (!await FillToAsync(length))
                {
                    return false;
                }

                ProxyHeader = Take(length);
                break;
            default:
                return true;
        }

        Log("> PROXY header " + ProxyHeader.Length + " octets");
        return true;
    }

    private async Task<bool> GreetAsync()
    {
        if (_options.NeverGreet)
        {
            while (await FillAsync())
            {
            }

            return false;
        }

        if (_options.TlsOnConnectCertificate is { } onConnect && !await HandshakeAsync(onConnect))
        {
            return false;
        }

        var banner = _options.Banner;
        for (var i = 0; i < banner.Count - 1; i++)
        {
            await WriteAsync(banner[i] + "\r\n");
            await Task.Delay(_options.BannerLinePause, _stop.Token);
        }

        await Task.Delay(_options.GreetingDelay, _stop.Token);
        if (!_options.AcceptsEarlyInput)
        {
            CheckNothingBeforeGreeting("final greeting line");
        }
        else if (HasInput())
        {
            ReceivedBeforeGreeting = Wire.Text(_unread.ToArray());
            Log($"> [early input of {_unread.Count} octets]");
            if (_options.CloseOnEarlyInput)
            {
                await CloseAsync();
                return false;
            }
        }

        GreetingSent = true;
        return await WriteAsync(banner[^1] + "\r\n");
    }

    private async Task CommandLoopAsync()
    {
        while (!_closedByUs)
        {
            var arrivedWithPrevious = _moreAtLastReply;
            if (await IdleTimedOutAsync())
            {
                _idleActed = true;
                Log("-- idle timeout");
                if (_options.IdleReply is { } said && !await WriteAsync(said + "\r\n"))
                {
                    return;
                }

                if (_options.IdleCloses)
                {
                    await CloseAsync();
                    return;
                }

                continue;
            }

            var line = await ReadLineAsync();
            if (line is null)
            {
                return;
            }

            int sequence;
            lock (_gate)
            {
                sequence = _transcript.Count;
                _commands.Add(new ReceivedCommand(line, arrivedWithPrevious, sequence, _tls is not null));
            }

            Log("> " + line);
            // As Postfix's tokenizer (smtpd_token.c) reads it: leading whitespace skipped, the verb ends at any.
            var words = line.TrimStart(PostfixWhitespace);
            var end = words.AsSpan().IndexOfAny(PostfixWhitespaceValues);
            var verb = (end < 0 ? words : words[..end]).ToUpperInvariant();
            var argument = end < 0 ? string.Empty : words[end..].TrimStart(PostfixWhitespace);
            if (!await ExecuteAsync(verb, argument))
            {
                return;
            }
        }
    }

    /// <summary>False when the conversation is over.</summary>
    private async Task<bool> ExecuteAsync(string verb, string argument)
    {
        if (string.Equals(verb, _options.StallOn, StringComparison.OrdinalIgnoreCase))
        {
            Log("-- stalling");
            while (await FillAsync())
            {
            }

            return false;
        }

        if (string.Equals(verb, _options.CloseOn, StringComparison.OrdinalIgnoreCase))
        {
            await CloseAsync();
            return false;
        }

        if (string.Equals(verb, _options.Fail451On, StringComparison.OrdinalIgnoreCase))
        {
            return await ReplyAsync("451 4.3.0 Error: queue file write error");
        }

        if (verb == "RSET" && _options.HoldResetUntil is { } hold)
        {
            Log("-- holding the reply to RSET");
            while (!hold.IsCompleted)
            {
                // Still reading meanwhile, so that a test sees what was pipelined behind the RSET.
                HasInput();
                await Task.WhenAny(hold, Task.Delay(10, _stop.Token));
            }
        }

        if (_options.VerbReplies.TryGetValue(verb, out var scripted))
        {
            return await ReplyAsync(scripted);
        }

        if (verb is "EHLO" or "HELO" or "RSET")
        {
            _mailGiven = false;
        }

        switch (verb)
        {
            case "MAIL" when _options.TracksTransaction && _mailGiven:
                return await ReplyAsync("503 5.5.1 Error: nested MAIL command");
            case "EHLO":
                var lines = new List<string> { FakeBackendOptions.HostName + " Hello " + argument };
                lines.AddRange(_options.Keywords);
                if (_options.StartTlsCertificate is not null && _tls is null)
                {
                    lines.Add("STARTTLS");
                }

                return await ReplyAsync(string.Join("\r\n", lines.Select((l, i) => (i == lines.Count - 1 ? "250 " : "250-") + l)));
            case "HELO":
                return await ReplyAsync("250 " + FakeBackendOptions.HostName);
            case "XCLIENT" when _options.FirstXclientReply is { } firstReply && !_xclientSeen:
                _xclientSeen = true;
                return await ReplyAsync(firstReply);
            case "XCLIENT":
                _xclientSeen = true;
                CheckNothingBeforeGreeting("220 after XCLIENT");
                return await ReplyAsync(FakeBackendOptions.FinalBannerLine);
            case "MAIL":
                var refusal = Rejection(argument);
                _mailGiven = refusal is null;
                return await ReplyAsync(refusal ?? "250 2.1.0 Ok");
            case "RCPT":
                return await ReplyAsync(Rejection(argument) ?? "250 2.1.5 Ok");
            case "DATA":
                CheckNothingBeforeGreeting("354 (message data before the go-ahead)");
                _mailGiven = false;
                return await ReplyAsync("354 End data with <CR><LF>.<CR><LF>") && await ReceiveBodyAsync();
            case "BDAT":
                return await ReceiveChunkAsync(argument);
            case "AUTH":
                return await AuthenticateAsync();
            case "STARTTLS" when _options.StartTlsCertificate is not null && _tls is null:
                return await StartTlsAsync(_options.StartTlsCertificate);
            case "RSET":
            case "NOOP":
                return await ReplyAsync("250 2.0.0 Ok");
            case "QUIT":
                await ReplyAsync("221 2.0.0 Bye");
                await CloseAsync();
                return false;
            default:
                return await ReplyAsync("502 5.5.2 Error: command not recognized");
        }
    }

    /// <summary>220, then the server side of the handshake; cleartext that came after STARTTLS is a violation and is dropped.</summary>
    private async Task<bool> StartTlsAsync(System.Security.Cryptography.X509Certificates.X509Certificate2 certificate)
    {
        if (HasInput())
        {
            Violation($"cleartext after STARTTLS, before the handshake: '{Peek()}'");
            _unread.Clear();
        }

        return await WriteAsync("220 2.0.0 Ready to start TLS\r\n") && await HandshakeAsync(certificate);
    }

    /// <summary>The server side of the handshake over the wire; afterwards the command loop reads what it decrypts.</summary>
    private async Task<bool> HandshakeAsync(System.Security.Cryptography.X509Certificates.X509Certificate2 certificate)
    {
        var stream = new SslStream(new PipeStream(_fromSession.Reader, _toSession.Writer, RecordRaw), leaveInnerStreamOpen: false);
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        bound.CancelAfter(Wire.Patience);
        try
        {
            await stream.AuthenticateAsServerAsync(
                new SslServerAuthenticationOptions { ServerCertificate = certificate, ClientCertificateRequired = false }, bound.Token);
        }
        catch (Exception ex) when (ex is System.Security.Authentication.AuthenticationException or IOException
            || (ex is OperationCanceledException && !_stop.IsCancellationRequested))
        {
            TlsHandshakeError = ex.Message;
            Log("-- TLS handshake failed: " + ex.Message);
            await stream.DisposeAsync();

            // Whatever else arrives is recorded (it must not be anything of the client's in cleartext).
            while (await FillRawAsync())
            {
            }

            return false;
        }

        _tls = stream;
        var decrypted = new Pipe();
        _input = decrypted.Reader;
        _tlsPump = PumpTlsAsync(stream, decrypted.Writer);
        Log($"-- TLS established: {stream.SslProtocol} {stream.NegotiatedCipherSuite}");
        return true;
    }

    /// <summary>Reads the wire beneath a failed handshake; false at EOF or reset.</summary>
    private async Task<bool> FillRawAsync()
    {
        try
        {
            var result = await _fromSession.Reader.ReadAsync(_stop.Token);
            foreach (var segment in result.Buffer)
            {
                RecordRaw(segment.Span);
            }

            _fromSession.Reader.AdvanceTo(result.Buffer.End);
            return !result.IsCompleted;
        }
        catch (IOException)
        {
            return false;
        }
    }

    private void RecordRaw(ReadOnlySpan<byte> bytes)
    {
        lock (_gate)
        {
            _raw.AddRange(bytes);
        }
    }

    /// <summary>Decrypted input into the pipe that the command loop reads; the session's close_notify ends it like a FIN.</summary>
    private async Task PumpTlsAsync(SslStream stream, PipeWriter decrypted)
    {
        Exception? failure = null;
        try
        {
            while (true)
            {
                var read = await stream.ReadAsync(decrypted.GetMemory(4096), _stop.Token);
                if (read == 0)
                {
                    Log("-- TLS end of data (close_notify or EOF)");
                    if (_options.WaitForConnectionEndAfterCloseNotify)
                    {
                        while (await FillRawAsync())
                        {
                        }

                        Log("-- connection ended after close_notify");
                    }

                    break;
                }

                decrypted.Advance(read);
                if ((await decrypted.FlushAsync()).IsCompleted)
                {
                    break;
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (Exception ex) when (ex is IOException or System.Security.Authentication.AuthenticationException or ObjectDisposedException or InvalidOperationException)
        {
            failure = ex as IOException ?? new IOException(ex.Message, ex);
        }

        await decrypted.CompleteAsync(failure);
    }

    private async Task StopTlsPumpAsync()
    {
        if (_tls is null)
        {
            return;
        }

        _fromSession.Reader.CancelPendingRead();
        try
        {
            await _tlsPump.WaitAsync(Wire.Patience);
        }
        catch (TimeoutException)
        {
        }
    }

    private string? Rejection(string argument)
    {
        var open = argument.IndexOf('<', StringComparison.Ordinal);
        var close = argument.IndexOf('>', StringComparison.Ordinal);
        return open >= 0 && close > open && _options.Rejections.TryGetValue(argument[(open + 1)..close], out var reply) ? reply : null;
    }

    private async Task<bool> ReceiveBodyAsync()
    {
        _bodyScanFrom = 0;
        while (true)
        {
            if (TryFindEndOfData(out var dot, out var end, out var terminator))
            {
                var body = Wire.Text(Take(end).AsSpan(0, dot));
                lock (_gate)
                {
                    _messages.Add(body);
                    Terminators = [.. Terminators, terminator];
                }

                Log($"> [message of {body.Length} octets, ended by '{Wire.Visible(terminator)}']");
                if (_options.CloseAtEndOfMessage == _messages.Count)
                {
                    Log("-- closing at the end of data, without a verdict");
                    await CloseAsync();
                    return false;
                }

                await HoldVerdictAsync();
                return await ReplyAsync("250 2.0.0 Ok: queued as " + (++_queued).ToString(CultureInfo.InvariantCulture));
            }

            if (_options.CloseAfterBodyBytes is { } limit && _unread.Count >= limit)
            {
                Log($"-- closing mid-DATA after {_unread.Count} octets");
                await CloseAsync();
                return false;
            }

            if (!await FillAsync())
            {
                Log($"-- connection ended mid-DATA after {_unread.Count} octets");
                return false;
            }
        }
    }

    /// <summary>
    /// A line ending (CRLF, LF or CR; the CRLF of DATA counts at the body's start), a dot, and LF or CRLF:
    /// lenient on purpose. <paramref name="dot"/> is the dot's index, <paramref name="end"/> just past the terminator.
    /// </summary>
    private bool TryFindEndOfData(out int dot, out int end, out string terminator)
    {
        for (var i = _bodyScanFrom; i < _unread.Count; i++)
        {
            if (_unread[i] != (byte)'.')
            {
                continue;
            }

            // NULs before the dot are skipped, as by MTAs that drop NUL before they look for the end of data.
            var p = i;
            while (p > 0 && _unread[p - 1] == 0)
            {
                p--;
            }

            var before = p == 0 ? "\r\n" : _unread[p - 1] == (byte)'\n' ? (p >= 2 && _unread[p - 2] == (byte)'\r' ? "\r\n" : "\n") : _unread[p - 1] == (byte)'\r' ? "\r" : null;
            if (before is null || i + 1 >= _unread.Count)
            {
                continue;
            }

            string after;
            if (_unread[i + 1] == (byte)'\n')
            {
                after = "\n";
            }
            else if (_unread[i + 1] == (byte)'\r' && i + 2 < _unread.Count && _unread[i + 2] == (byte)'\n')
            {
                after = "\r\n";
            }
            else
            {
                continue;
            }

            dot = i;
            end = i + 1 + after.Length;
            terminator = before + new string('\0', i - p) + "." + after;
            return true;
        }

        // A terminator not yet whole starts at most three octets before the end.
        _bodyScanFrom = Math.Max(0, _unread.Count - 3);
        dot = end = 0;
        terminator = string.Empty;
        return false;
    }

    private async Task<bool> ReceiveChunkAsync(string argument)
    {
        var parts = argument.Split(PostfixWhitespace, StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length is < 1 or > 2 || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var size)
            || (parts.Length == 2 && !parts[1].Equals("LAST", StringComparison.OrdinalIgnoreCase)))
        {
            return await ReplyAsync("501 5.5.4 Syntax: BDAT count [LAST]");
        }

        if (!await FillToAsync(size))
        {
            Log($"-- connection ended mid-BDAT after {_unread.Count} of {size} octets");
            return false;
        }

        var chunk = Wire.Text(Take(size));
        lock (_gate)
        {
            _chunks.Add(chunk);
        }

        Log($"> [chunk of {size} octets]");
        if (parts.Length == 2)
        {
            await HoldVerdictAsync();
        }

        return parts.Length == 2
            ? await ReplyAsync("250 2.0.0 Ok: queued as " + (++_queued).ToString(CultureInfo.InvariantCulture))
            : await ReplyAsync($"250 2.0.0 Ok: {size} octets received");
    }

    /// <summary>The end of a message came: said so, then the verdict waits as long as the options hold it.</summary>
    private async Task HoldVerdictAsync()
    {
        _endOfData.TrySetResult();
        if (_options.HoldVerdictUntil is { } hold)
        {
            Log("-- holding the verdict");
            await hold.WaitAsync(_stop.Token);
        }
    }

    private async Task<bool> AuthenticateAsync()
    {
        foreach (var challenge in _options.AuthChallenges)
        {
            if (!await ReplyAsync("334 " + challenge))
            {
                return false;
            }

            var answer = await ReadLineAsync();
            if (answer is null)
            {
                return false;
            }

            lock (_gate)
            {
                _authAnswers.Add(answer);
            }

            Log("> [AUTH answer] " + answer);
            if (answer == "*")
            {
                // The client cancelled the exchange (RFC 4954 §4).
                return await ReplyAsync("501 5.7.0 Authentication cancelled");
            }
        }

        return await ReplyAsync("235 2.7.0 Authentication successful");
    }

    /// <summary>A reply to the unit just received; the lockstep check happens here.</summary>
    private async Task<bool> ReplyAsync(string reply)
    {
        var more = HasInput();
        if (more && _options.IsLockstep)
        {
            Violation($"lockstep: more input was already there before the reply '{reply.Split("\r\n")[0]}': '{Peek()}'");
        }

        _moreAtLastReply = more;
        return await WriteAsync(reply + "\r\n");
    }

    private void CheckNothingBeforeGreeting(string what)
    {
        if (HasInput())
        {
            Violation($"input before the {what}: '{Peek()}'");
        }
    }

    private async Task<bool> WriteAsync(string text)
    {
        Log("< " + text.TrimEnd('\r', '\n').Replace("\r\n", "\n< ", StringComparison.Ordinal));
        if (_tls is not null)
        {
            try
            {
                await _tls.WriteAsync(Wire.Bytes(text), _stop.Token);
                await _tls.FlushAsync(_stop.Token);
                return true;
            }
            catch (Exception ex) when (ex is IOException or InvalidOperationException or ObjectDisposedException)
            {
                return false;
            }
        }

        try
        {
            var result = await _toSession.Writer.WriteAsync(Wire.Bytes(text));
            return !result.IsCompleted;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    private async Task CloseAsync()
    {
        Log("-- backend closes the connection");
        _closedByUs = true;
        if (_tls is not null)
        {
            try
            {
                await _tls.ShutdownAsync();
            }
            catch (Exception ex) when (ex is IOException or InvalidOperationException or ObjectDisposedException)
            {
            }

            await StopTlsPumpAsync();
        }

        await _toSession.Writer.CompleteAsync();
        await _fromSession.Reader.CompleteAsync();
        _inputEnded = true;
    }

    private async Task<string?> ReadLineAsync()
    {
        while (true)
        {
            var lf = _unread.IndexOf((byte)'\n');
            if (lf >= 0)
            {
                var line = Wire.Text(Take(lf + 1));
                return line.EndsWith("\r\n", StringComparison.Ordinal) ? line[..^2] : line[..^1];
            }

            if (!await FillAsync())
            {
                return null;
            }
        }
    }

    /// <summary>With <see cref="FakeBackendOptions.IdleTimeout"/>: true when no whole command line came within it.</summary>
    private async Task<bool> IdleTimedOutAsync()
    {
        if (_options.IdleTimeout is not { } idle || _idleActed)
        {
            return false;
        }

        using var timer = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        timer.CancelAfter(idle);
        try
        {
            while (_unread.IndexOf((byte)'\n') < 0 && !_inputEnded)
            {
                Append(await _input.ReadAsync(timer.Token));
            }

            return false;
        }
        catch (OperationCanceledException) when (!_stop.IsCancellationRequested)
        {
            return true;
        }
    }

    private async Task<bool> FillToAsync(int count)
    {
        while (_unread.Count < count)
        {
            if (!await FillAsync())
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Waits for more input; false at EOF.</summary>
    private async Task<bool> FillAsync()
    {
        var before = _unread.Count;
        while (!_inputEnded)
        {
            var result = await _input.ReadAsync(_stop.Token);
            Append(result);
            if (_unread.Count > before)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Whether input is waiting right now, without waiting for any.</summary>
    private bool HasInput()
    {
        if (_unread.Count > 0)
        {
            return true;
        }

        if (_inputEnded)
        {
            return false;
        }

        try
        {
            if (_input.TryRead(out var result))
            {
                Append(result);
            }
        }
        catch (IOException)
        {
            _inputEnded = true;
        }

        return _unread.Count > 0;
    }

    private void Append(ReadResult result)
    {
        lock (_gate)
        {
            foreach (var segment in result.Buffer)
            {
                _unread.AddRange(segment.Span);
                _received.AddRange(segment.Span);
                if (_tls is null)
                {
                    _raw.AddRange(segment.Span);
                }
            }
        }

        _inputEnded |= result.IsCompleted;
        _input.AdvanceTo(result.Buffer.End);
    }

    private byte[] Take(int count)
    {
        var taken = _unread.GetRange(0, count).ToArray();
        _unread.RemoveRange(0, count);
        return taken;
    }

    private string Peek() => Wire.Visible(Wire.Text(_unread.Take(80).ToArray()));

    private void Violation(string text)
    {
        Log("!! " + text);
        lock (_gate)
        {
            _violations.Add(text);
        }
    }

    private void Log(string text)
    {
        lock (_gate)
        {
            _transcript.Add(FormattableString.Invariant($"{_clock.ElapsedMilliseconds,5}ms {text}"));
        }
    }

    private IReadOnlyList<T> Snapshot<T>(List<T> list)
    {
        lock (_gate)
        {
            return [.. list];
        }
    }
}
