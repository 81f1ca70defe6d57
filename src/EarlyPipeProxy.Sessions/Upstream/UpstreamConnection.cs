using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Runtime.CompilerServices;
using EarlyPipeProxy.Protocol.Replies;
using EarlyPipeProxy.Sessions.Transport;

namespace EarlyPipeProxy.Sessions.Upstream;

/// <summary>
/// One connection to the server behind the proxy (the backend inbound, the remote outbound): its pipes, and reply framing on top of them. A reply returned by
/// <see cref="ReadReplyAsync"/> points into the input buffer and stays valid until <see cref="ReleaseReply"/>,
/// so relaying it to the client costs one copy.
/// </summary>
/// <remarks>
/// The input has one reader at a time. While the session waits for its peer with nothing owed, that reader is the
/// watch (<see cref="Watch"/>); <see cref="EndWatchAsync"/> gives it back before anything is sent, so whatever the
/// watch saw was said before the next command left, and no reply to it can be taken for unsolicited or be lost.
/// </remarks>
public sealed class UpstreamConnection : IAsyncDisposable
{
    private IDuplexPipe _transport;
    private PipeWriter? _tracedOutput;
    private Tracing.SessionTrace? _trace;
    private Tls.TlsDuplexPipe? _tls;
    private SequencePosition _replyEnd;
    private bool _holdingReply;
    private bool _closed;
    private UpstreamWatch? _watch;
    private bool _watching;

    /// <param name="transport">The connection's pipes.</param>
    /// <param name="remoteEndPoint">For logs.</param>
    /// <param name="close">Closes the connection; the argument says whether to abort (reset) rather than end politely.</param>
    /// <param name="roundTripTime">Measures the connection's TCP round-trip time; null where it cannot be measured.</param>
    public UpstreamConnection(IDuplexPipe transport, EndPoint remoteEndPoint, Func<bool, ValueTask> close, Func<TimeSpan?>? roundTripTime = null)
    {
        _transport = transport;
        RemoteEndPoint = remoteEndPoint;
        _close = close;
        _roundTripTime = roundTripTime;
    }

    /// <summary>
    /// A connection on a socket of its own: the pipe closes it and measures it, without the two delegates and their
    /// closure (memory an idle session holds for as long as its client idles).
    /// </summary>
    internal UpstreamConnection(SocketPipe socket, EndPoint remoteEndPoint)
    {
        _transport = socket;
        _socket = socket;
        RemoteEndPoint = remoteEndPoint;
    }

    private readonly Func<bool, ValueTask>? _close;
    private readonly Func<TimeSpan?>? _roundTripTime;
    private readonly SocketPipe? _socket;

    /// <summary>The kernel's smoothed round-trip time to the server, or null when unknown.</summary>
    public TimeSpan? RoundTripTime => _closed ? null : _socket is not null ? _socket.RoundTripTime : _roundTripTime?.Invoke();

    public EndPoint RemoteEndPoint { get; }

    /// <summary>The connection's output, through the session's trace when it has one.</summary>
    public PipeWriter Output => _tracedOutput ?? _transport.Output;

    /// <summary>
    /// The session's trace: from now on what is written to <see cref="Output"/> and every reply read are traced.
    /// Null (the default) traces nothing.
    /// </summary>
    public Tracing.SessionTrace? Trace
    {
        get => _trace;
        set
        {
            _trace = value;
            _tracedOutput = value?.ToUpstream(_transport.Output);
        }
    }

    /// <summary>This end of the connection (the proxy's source address and port); null where the transport has none.</summary>
    public EndPoint? LocalEndPoint { get; init; }

    /// <summary>Whether the TLS session was resumed rather than negotiated in full (valid after <see cref="UpgradeToTlsAsync"/>).</summary>
    public bool TlsResumed { get; private set; }

    /// <summary>The TLS stream after <see cref="UpgradeToTlsAsync"/>; null while cleartext.</summary>
    public System.Net.Security.SslStream? TlsStream => _tls?.Stream;

    /// <summary>
    /// STARTTLS toward the upstream server, after its 220 go-ahead has been read and released: the handshake runs over the
    /// current pipes and the connection continues over the encrypted ones.
    /// </summary>
    public async ValueTask UpgradeToTlsAsync(System.Net.Security.SslClientAuthenticationOptions options, CancellationToken cancellationToken)
    {
        var raw = new Tls.DuplexPipeStream(_transport);
        var stream = new System.Net.Security.SslStream(raw, leaveInnerStreamOpen: false);
        try
        {
            await stream.AuthenticateAsClientAsync(options, cancellationToken);
        }
        catch (Exception ex) when (ex is System.Security.Authentication.AuthenticationException or IOException)
        {
            await stream.DisposeAsync();
            throw new UpstreamUnavailableException(UpstreamFailure.TlsFailed, "TLS handshake failed: " + ex.Message, ex);
        }

        // .NET does not say whether the session was resumed; the handshake does: in a full one the server sends its
        // certificate, in an abbreviated one (session ticket, TLS 1.3 PSK) it does not, so it sends fewer octets.
        TlsResumed = stream.RemoteCertificate is not { } certificate || raw.BytesRead < certificate.GetRawCertData().Length;
        _tls = new Tls.TlsDuplexPipe(stream);
        _transport = _tls;
        _tracedOutput = _trace?.ToUpstream(_transport.Output);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask FlushAsync(CancellationToken cancellationToken)
    {
        FlushResult result;
        try
        {
            result = await _transport.Output.FlushAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException)
        {
            // A transport that writes straight to the socket (SocketPipe) meets a reset here rather than on the next read.
            throw new UpstreamUnavailableException(UpstreamFailure.Closed, "connection lost", ex);
        }

        if (result.IsCompleted)
        {
            throw new UpstreamUnavailableException(UpstreamFailure.Closed, "the server stopped reading");
        }
    }

    /// <summary>Reads the next whole reply (multi-line replies included). Call <see cref="ReleaseReply"/> when done with it.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<SmtpReply> ReadReplyAsync(int maxLineLength, CancellationToken cancellationToken)
    {
        if (_watching)
        {
            throw new InvalidOperationException("the upstream's input is being watched");
        }

        var input = _transport.Input;
        while (true)
        {
            ReadResult result;
            try
            {
                result = await input.ReadAsync(cancellationToken);
            }
            catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException)
            {
                throw new UpstreamUnavailableException(UpstreamFailure.Closed, "connection lost", ex);
            }

            var buffer = result.Buffer;
            var reader = new SequenceReader<byte>(buffer);
            switch (SmtpReplyReader.TryReadReply(ref reader, maxLineLength, out var reply))
            {
                case ReplyReadStatus.Complete:
                    _replyEnd = reader.Position;
                    _holdingReply = true;
                    _trace?.FromUpstream(reply);
                    return reply;
                case ReplyReadStatus.Malformed:
                case ReplyReadStatus.TooLong:
                    input.AdvanceTo(buffer.Start);
                    throw new UpstreamUnavailableException(UpstreamFailure.MalformedReply, "malformed reply");
            }

            if (result.IsCompleted || result.IsCanceled)
            {
                input.AdvanceTo(buffer.End);
                throw new UpstreamUnavailableException(UpstreamFailure.Closed, "the server closed the connection");
            }

            input.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    /// <summary>
    /// Whether the server has sent bytes no reply has been read for yet (looked at without waiting, and without
    /// consuming them). Once every reply owed has been read, that is a reply nobody asked for.
    /// </summary>
    public bool HasUnreadInput()
    {
        var input = _transport.Input;
        if (_closed || _holdingReply || !input.TryRead(out var result))
        {
            return false;
        }

        var unread = !result.Buffer.IsEmpty;
        input.AdvanceTo(result.Buffer.Start);
        return unread;
    }

    /// <summary>
    /// Starts watching the input while the server owes nothing: the first byte it sends, or its close, cancels the
    /// pending read of <paramref name="wake"/> (the peer's input the session waits on), so the session hears it at
    /// once instead of at the peer's next command. Nothing is consumed. Call <see cref="EndWatchAsync"/> before the
    /// next write or read.
    /// </summary>
    public void Watch(PipeReader wake)
    {
        if (_closed || _holdingReply || _watching)
        {
            return;
        }

        _watch ??= new UpstreamWatch();
        _watching = true;
        _watch.Start(_transport.Input, wake);
    }

    /// <summary>
    /// Ends the watch and gives the input back, consuming nothing. True when the server spoke or closed while it was
    /// watched (or is found to have done so now): it owed nothing, so that is the session's end.
    /// </summary>
    public ValueTask<bool> EndWatchAsync()
    {
        if (!_watching)
        {
            return ValueTask.FromResult(false);
        }

        _watching = false;
        return _watch!.EndAsync();
    }

    /// <summary>Consumes the reply last returned; the next read returns at once when more replies are already buffered.</summary>
    public void ReleaseReply()
    {
        if (_holdingReply)
        {
            _holdingReply = false;
            _transport.Input.AdvanceTo(_replyEnd);
        }
    }

    /// <summary>Drops the connection without another byte, e.g. so that a half-relayed message is never ended.</summary>
    public ValueTask AbortAsync() => CloseAsync(abort: true);

    public ValueTask DisposeAsync() => CloseAsync(abort: false);

    private ValueTask CloseAsync(bool abort)
    {
        if (_closed)
        {
            return ValueTask.CompletedTask;
        }

        _closed = true;
        ReleaseReply();
        return CloseTransportAsync(abort);
    }

    private async ValueTask CloseTransportAsync(bool abort)
    {
        if (_tls is not null && !abort)
        {
            await _tls.DisposeAsync();
        }

        await (_socket is not null ? _socket.CloseAsync(abort) : _close!(abort));
    }
}
