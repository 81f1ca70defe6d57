using System.Collections;
using System.Globalization;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;

namespace EarlyPipeProxy.Sessions.Transport;

/// <summary>
/// A connection accepted by an SMTP listener (<see cref="SmtpSocketListener"/>): the socket as a <see cref="SocketPipe"/>,
/// and a Kestrel connection context that is its own feature collection. It holds what an idle connection needs and
/// nothing more: no send loop or output pipe, no feature dictionary (the features the handlers and Kestrel use are
/// fields, the listener's among them), no close token until someone asks for one.
/// </summary>
/// <remarks>
/// As on Kestrel's socket transport: <see cref="ConnectionClosed"/> fires when the receive loop ends (the peer's FIN,
/// its reset, or the close here), completing the output closes the connection politely (shutdown, close), and
/// <see cref="Abort(ConnectionAbortedException)"/> ends it at once, the input's reader meeting the reason. Unlike it, an
/// abort is a reset: a peer cut off (one that stopped reading) holds no socket or buffer here, nor in the kernel.
/// Kestrel's own per-connection features (lifetime notification for a graceful stop, heartbeat, completion, metrics)
/// are set on it by Kestrel and kept.
/// </remarks>
public sealed class SmtpSocketConnection : ConnectionContext, IFeatureCollection, ISocketPipeObserver,
    IConnectionIdFeature, IConnectionTransportFeature, IConnectionItemsFeature, IConnectionLifetimeFeature, IConnectionEndPointFeature,
    IConnectionSocketFeature
{
    // What _closeState holds once the connection is over and nobody had asked for the token before.
    private static readonly object Over = new();
    private static long _lastId;

    private readonly SocketPipe _pipe;
    private readonly object? _listenerFeature;
    private IDuplexPipe _transport;
    private string? _connectionId;
    private IDictionary<object, object?>? _items;

    // null while open and nobody has asked for ConnectionClosed; a CancellationTokenSource once someone has; Over.
    private object? _closeState;

    // Set by Kestrel's KestrelConnection on every connection.
    private IConnectionLifetimeNotificationFeature? _lifetimeNotification;
    private IConnectionHeartbeatFeature? _heartbeat;
    private IConnectionCompleteFeature? _completion;

    // Any other feature set: Kestrel sets one more (its metrics context), sometimes two; the rest in a dictionary.
    private Type? _otherType1;
    private object? _other1;
    private Type? _otherType2;
    private object? _other2;
    private Dictionary<Type, object?>? _others;
    private int _revision;

    /// <param name="socket">The accepted socket; the connection owns it.</param>
    /// <param name="listenerFeature">What the handlers get for the listener's feature type (its own type); null: none.</param>
    public SmtpSocketConnection(Socket socket, object? listenerFeature)
    {
        ArgumentNullException.ThrowIfNull(socket);
        _listenerFeature = listenerFeature;
        LocalEndPoint = socket.LocalEndPoint;
        RemoteEndPoint = socket.RemoteEndPoint;
        _pipe = new SocketPipe(socket, this);
        _transport = _pipe;
    }

    public override IDuplexPipe Transport
    {
        get => _transport;
        set => _transport = value;
    }

    public override string ConnectionId
    {
        get => _connectionId ??= "S" + Interlocked.Increment(ref _lastId).ToString("x8", CultureInfo.InvariantCulture);
        set => _connectionId = value;
    }

    public override IFeatureCollection Features => this;

    public override IDictionary<object, object?> Items
    {
        get => _items ??= new ConnectionItems();
        set => _items = value;
    }

    public override EndPoint? LocalEndPoint { get; set; }

    public override EndPoint? RemoteEndPoint { get; set; }

    public Socket Socket => _pipe.Socket;

    public override CancellationToken ConnectionClosed
    {
        get
        {
            var state = Volatile.Read(ref _closeState);
            if (state is null)
            {
                var created = new CancellationTokenSource();
                state = Interlocked.CompareExchange(ref _closeState, created, null);
                if (state is null)
                {
                    return created.Token;
                }

                created.Dispose();
            }

            return state is CancellationTokenSource source ? source.Token : new CancellationToken(canceled: true);
        }

        set => throw new NotSupportedException("the connection's close is its socket's");
    }

    public override void Abort(ConnectionAbortedException abortReason) => _pipe.Abort(abortReason);

    public override void Abort() => Abort(new ConnectionAbortedException("The connection was aborted by the application."));

    /// <summary>
    /// After the handler (Kestrel calls it then): a connection not yet closed is closed politely, within the pipe's
    /// bound; then this waits for the receive loop, as Kestrel's transport does.
    /// </summary>
    public override async ValueTask DisposeAsync()
    {
        await _pipe.CloseAsync(abort: false);
        await _pipe.ReceiveEnded;
        await base.DisposeAsync();
    }

    void ISocketPipeObserver.ReceiveEnded()
    {
        // A source is only made for who asks (no timer in it: nothing to dispose). Cancelled inline, on the receive
        // loop's thread, where Kestrel's transport queues it to the thread pool: what waits on it here (the
        // connection runner's bound on the last words) never blocks, and a hop per connection would wake a worker.
        if (Interlocked.Exchange(ref _closeState, Over) is CancellationTokenSource source)
        {
            source.Cancel();
        }
    }

    // IFeatureCollection: the connection is most of its own features.

    public bool IsReadOnly => false;

    public int Revision => _revision;

    public object? this[Type key]
    {
        get
        {
            ArgumentNullException.ThrowIfNull(key);
            if (TryGetOther(key, out var other))
            {
                return other;
            }

            if (key == typeof(IConnectionLifetimeNotificationFeature))
            {
                return _lifetimeNotification;
            }

            if (key == typeof(IConnectionHeartbeatFeature))
            {
                return _heartbeat;
            }

            if (key == typeof(IConnectionCompleteFeature))
            {
                return _completion;
            }

            if (_listenerFeature is not null && key == _listenerFeature.GetType())
            {
                return _listenerFeature;
            }

            return IsOwnFeature(key) ? this : null;
        }

        set
        {
            ArgumentNullException.ThrowIfNull(key);
            _revision++;
            if (key == typeof(IConnectionLifetimeNotificationFeature))
            {
                _lifetimeNotification = (IConnectionLifetimeNotificationFeature?)value;
            }
            else if (key == typeof(IConnectionHeartbeatFeature))
            {
                _heartbeat = (IConnectionHeartbeatFeature?)value;
            }
            else if (key == typeof(IConnectionCompleteFeature))
            {
                _completion = (IConnectionCompleteFeature?)value;
            }
            else
            {
                SetOther(key, value);
            }
        }
    }

    public TFeature? Get<TFeature>() => (TFeature?)this[typeof(TFeature)];

    public void Set<TFeature>(TFeature? instance) => this[typeof(TFeature)] = instance;

    public IEnumerator<KeyValuePair<Type, object>> GetEnumerator()
    {
        foreach (var own in OwnFeatures)
        {
            if (!TryGetOther(own, out _))
            {
                yield return new(own, this);
            }
        }

        foreach (var (type, value) in SetFeatures())
        {
            if (value is not null)
            {
                yield return new(type, value);
            }
        }
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    private static readonly Type[] OwnFeatures =
    [
        typeof(IConnectionIdFeature), typeof(IConnectionTransportFeature), typeof(IConnectionItemsFeature), typeof(IConnectionLifetimeFeature),
        typeof(IConnectionEndPointFeature), typeof(IConnectionSocketFeature),
    ];

    private static bool IsOwnFeature(Type key) => Array.IndexOf(OwnFeatures, key) >= 0;

    private IEnumerable<(Type, object?)> SetFeatures()
    {
        yield return (typeof(IConnectionLifetimeNotificationFeature), _lifetimeNotification);
        yield return (typeof(IConnectionHeartbeatFeature), _heartbeat);
        yield return (typeof(IConnectionCompleteFeature), _completion);
        if (_listenerFeature is not null)
        {
            yield return (_listenerFeature.GetType(), _listenerFeature);
        }

        if (_otherType1 is not null)
        {
            yield return (_otherType1, _other1);
        }

        if (_otherType2 is not null)
        {
            yield return (_otherType2, _other2);
        }

        foreach (var (type, value) in _others ?? [])
        {
            yield return (type, value);
        }
    }

    private bool TryGetOther(Type key, out object? value)
    {
        if (_otherType1 == key)
        {
            value = _other1;
            return true;
        }

        if (_otherType2 == key)
        {
            value = _other2;
            return true;
        }

        value = null;
        return _others is not null && _others.TryGetValue(key, out value);
    }

    private void SetOther(Type key, object? value)
    {
        if (_otherType1 is null || _otherType1 == key)
        {
            (_otherType1, _other1) = (key, value);
        }
        else if (_otherType2 is null || _otherType2 == key)
        {
            (_otherType2, _other2) = (key, value);
        }
        else
        {
            (_others ??= [])[key] = value;
        }
    }
}
