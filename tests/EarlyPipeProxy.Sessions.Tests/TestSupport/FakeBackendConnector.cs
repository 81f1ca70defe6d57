using System.Net;
using EarlyPipeProxy.Sessions.Upstream;

namespace EarlyPipeProxy.Sessions.Tests.TestSupport;

/// <summary>Hands the session in-memory connections to <see cref="FakeBackend"/>s, or refuses like a closed port.</summary>
public sealed class FakeBackendConnector(FakeBackendOptions options) : IUpstreamConnector, IAsyncDisposable
{
    private readonly List<FakeBackend> _backends = [];
    private readonly TaskCompletionSource<FakeBackend> _first = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public FakeBackendOptions Options { get; } = options;

    /// <summary>The script of the first connection only (a remote that misbehaves once); later ones follow <see cref="Options"/>.</summary>
    public FakeBackendOptions? FirstConnectionOptions { get; set; }

    /// <summary>Every connection attempt throws <see cref="UpstreamUnavailableException"/> (Unreachable).</summary>
    public bool Unreachable { get; set; }

    public int Attempts { get; private set; }

    public IReadOnlyList<IPEndPoint> EndPoints { get; private set; } = [];

    /// <summary>The source of every transparent connection asked for (null: the kernel's choice, as the probe asks).</summary>
    public IReadOnlyList<IPEndPoint?> TransparentSources { get; private set; } = [];

    public IReadOnlyList<FakeBackend> Backends
    {
        get
        {
            lock (_backends)
            {
                return [.. _backends];
            }
        }
    }

    /// <summary>The one backend connection of a session; fails when the session never connected.</summary>
    public async Task<FakeBackend> BackendAsync() => await _first.Task.WaitAsync(Wire.Patience);

    public ValueTask<UpstreamConnection> ConnectAsync(IPEndPoint endPoint, CancellationToken cancellationToken)
    {
        Attempts++;
        EndPoints = [.. EndPoints, endPoint];
        if (Unreachable)
        {
            throw new UpstreamUnavailableException(UpstreamFailure.Unreachable, $"cannot connect to {endPoint}: connection refused");
        }

        FakeBackend backend;
        lock (_backends)
        {
            backend = new FakeBackend(_backends.Count == 0 ? FirstConnectionOptions ?? Options : Options);
            _backends.Add(backend);
        }

        backend.Start();
        _first.TrySetResult(backend);
        return ValueTask.FromResult(new UpstreamConnection(backend.SessionSide, endPoint, backend.OnSessionCloseAsync));
    }

    /// <summary>Records the source; the connection itself is the same in-memory one.</summary>
    public ValueTask<UpstreamConnection> ConnectTransparentAsync(IPEndPoint endPoint, IPEndPoint? source, CancellationToken cancellationToken)
    {
        TransparentSources = [.. TransparentSources, source];
        return ConnectAsync(endPoint, cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var backend in Backends)
        {
            await backend.DisposeAsync();
        }
    }
}
