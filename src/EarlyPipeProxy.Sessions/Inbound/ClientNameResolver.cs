using System.Net;
using EarlyPipeProxy.Protocol.ClientIdentity;
using EarlyPipeProxy.Sessions.Configuration;

namespace EarlyPipeProxy.Sessions.Inbound;

/// <summary>
/// Looks up clients' names (<see cref="ClientHostNames"/>) the way Postfix does, off the thread pool and within a hard
/// timeout. The C library's lookups block, and nothing cancels one: run on pool threads (as Dns.GetHostEntryAsync
/// does on Linux), a stalled resolver would hold one pool thread per connecting client for resolv.conf's whole
/// timeout and starve every session in the process. So the lookups run on a few threads of their own, fed from a
/// bounded queue. A session waits at most its timeout, then its names are [TEMPUNAVAIL] (Postfix answers 450, and the
/// client tries again later) while the abandoned lookup finishes in the background; a lookup whose session has
/// stopped waiting before a thread took it is not started at all. When every thread is busy and the queue is full,
/// the answer is [TEMPUNAVAIL] at once.
/// </summary>
public sealed class ClientNameResolver
{
    private static readonly TimeSpan DefaultIdleThreadLifetime = TimeSpan.FromMinutes(1);

    private static readonly Lazy<ClientNameResolver> LazyShared = new(() => new ClientNameResolver(new ClientNameLookupOptions()));

    private readonly Func<IPAddress, ClientHostNames> _lookup;
    private readonly int _maxThreads;
    private readonly int _maxQueued;
    private readonly TimeSpan _idleThreadLifetime;

    // Guards the queue and the counts; idle threads wait on it (Monitor.Wait) for a request.
    private readonly object _gate = new();
    private readonly Queue<Request> _queue = new();
    private int _threads;
    private int _busy;

    public ClientNameResolver(ClientNameLookupOptions options)
        : this(options, SystemHostNameLookup.Lookup)
    {
    }

    /// <param name="lookup">The blocking lookup (tests put a stalled one here); it runs only on this resolver's threads.</param>
    /// <param name="idleThreadLifetime">How long a thread with nothing to do stays; one minute by default.</param>
    internal ClientNameResolver(ClientNameLookupOptions options, Func<IPAddress, ClientHostNames> lookup, TimeSpan? idleThreadLifetime = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(lookup);
        if (options.Threads < 1 || options.MaxQueued < 0)
        {
            throw new FormatException("ClientNameLookup: Threads must be at least 1 and MaxQueued at least 0.");
        }

        _lookup = lookup;
        _maxThreads = options.Threads;
        _maxQueued = options.MaxQueued;
        _idleThreadLifetime = idleThreadLifetime ?? DefaultIdleThreadLifetime;
    }

    /// <summary>One with the default bounds, for listeners built without the host's (tests, tools).</summary>
    public static ClientNameResolver Shared => LazyShared.Value;

    /// <summary>Threads of this resolver alive now (busy or waiting for work).</summary>
    internal int ThreadCount
    {
        get
        {
            lock (_gate)
            {
                return _threads;
            }
        }
    }

    /// <summary>
    /// The names of <paramref name="address"/>, or <see cref="ClientHostNames.LookupFailedForNow"/> when they are not
    /// known within <paramref name="timeout"/> or there is no room to ask. Never blocks the calling thread.
    /// </summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled (the session ended).</exception>
    public async Task<ClientHostNames> ResolveAsync(IPAddress address, TimeSpan timeout, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(address);
        var request = new Request(address);
        if (!TryEnqueue(request))
        {
            return ClientHostNames.LookupFailedForNow;
        }

        try
        {
            return await request.Answer.Task.WaitAsync(timeout, cancellationToken);
        }
        catch (TimeoutException)
        {
            return ClientHostNames.LookupFailedForNow;
        }
        finally
        {
            // Nobody is waiting any more: a thread that has not started this lookup skips it.
            request.Answer.TrySetCanceled(CancellationToken.None);
        }
    }

    private bool TryEnqueue(Request request)
    {
        lock (_gate)
        {
            // Requests beyond those the idle (or yet to be started) threads take at once wait; at most MaxQueued of them.
            if (_queue.Count >= Capacity && !PurgeAbandoned())
            {
                return false;
            }

            _queue.Enqueue(request);
            Monitor.Pulse(_gate);

            // Fewer idle threads than requests waiting: one more thread, within the bound.
            if (_threads - _busy < _queue.Count && _threads < _maxThreads)
            {
                _threads++;
                var thread = new Thread(Work) { IsBackground = true, Name = "client name lookup" };
                thread.Start();
            }

            return true;
        }
    }

    /// <summary>Drops queued requests nobody waits for any more; true when that made room. Called under the lock.</summary>
    private bool PurgeAbandoned()
    {
        var live = _queue.Where(r => !r.Answer.Task.IsCompleted).ToArray();
        if (live.Length == _queue.Count)
        {
            return false;
        }

        _queue.Clear();
        foreach (var request in live)
        {
            _queue.Enqueue(request);
        }

        return _queue.Count < Capacity;
    }

    // Called under the lock.
    private int Capacity => _maxQueued + _maxThreads - _busy;

    private void Work()
    {
        while (true)
        {
            Request request;
            lock (_gate)
            {
                while (_queue.Count == 0)
                {
                    // A pulse may find no thread waiting (it was on its way back from a lookup): the loop's own check
                    // covers that, and TryEnqueue starts a thread when there are fewer idle ones than requests.
                    if (!Monitor.Wait(_gate, _idleThreadLifetime) && _queue.Count == 0)
                    {
                        _threads--;
                        return;
                    }
                }

                request = _queue.Dequeue();
                _busy++;
            }

            try
            {
                if (!request.Answer.Task.IsCompleted)
                {
                    request.Answer.TrySetResult(LookUp(request.Address));
                }
            }
            finally
            {
                lock (_gate)
                {
                    _busy--;
                }
            }
        }
    }

    private ClientHostNames LookUp(IPAddress address)
    {
        try
        {
            return _lookup(address);
        }
        catch (Exception)
        {
            // A failing lookup must not end the thread; its session just gets no name for now.
            return ClientHostNames.LookupFailedForNow;
        }
    }

    private sealed class Request(IPAddress address)
    {
        public IPAddress Address { get; } = address;

        // Completed by a lookup thread, or cancelled when the session stops waiting; continuations never run on the
        // lookup thread.
        public TaskCompletionSource<ClientHostNames> Answer { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
