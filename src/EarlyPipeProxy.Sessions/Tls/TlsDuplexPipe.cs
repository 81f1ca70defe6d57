using System.IO.Pipelines;
using System.Net.Security;

namespace EarlyPipeProxy.Sessions.Tls;

/// <summary>
/// The pipes of a connection after its TLS handshake. Decrypted input is pumped into a pipe as it arrives rather than
/// read on demand, so that "is there input already?" can be answered without blocking: the early-pipelining check
/// before the banner of a TLS-on-connect listener needs exactly that.
/// </summary>
public sealed class TlsDuplexPipe : IDuplexPipe, IAsyncDisposable
{
    private const int ReadSize = 4096;

    /// <summary>How long closing may wait for the peer to take the last records and the close_notify.</summary>
    private static readonly TimeSpan CloseBound = TimeSpan.FromSeconds(2);

    private readonly Pipe _input = new(new PipeOptions(pauseWriterThreshold: 64 * 1024, resumeWriterThreshold: 32 * 1024, useSynchronizationContext: false));
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _pump;
    private int _disposed;

    public TlsDuplexPipe(SslStream stream)
    {
        Stream = stream;
        Output = PipeWriter.Create(stream, new StreamPipeWriterOptions(leaveOpen: true));
        _pump = PumpAsync();
    }

    public SslStream Stream { get; }

    public PipeReader Input => _input.Reader;

    public PipeWriter Output { get; }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        // Everything here is bounded: a peer that stopped reading holds every write to it, and the session must end
        // anyway (its slot freed, the connection aborted by whoever owns it).
        using var bound = new CancellationTokenSource(CloseBound);
        try
        {
            // What is still buffered goes out if the peer takes it; completing the writer would flush it unbounded.
            await Output.FlushAsync(bound.Token);
            await Output.CompleteAsync();
            await Stream.ShutdownAsync().WaitAsync(bound.Token);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException or InvalidOperationException
            or NotSupportedException)
        {
            // close_notify is a courtesy; the connection is going away either way. Completed with the failure, the
            // writer drops what it still holds instead of writing it to a peer that does not read.
            await Output.CompleteAsync(ex);
        }

        // The pump may be waiting for the peer's next record; disposing the stream does not end that read, and the
        // peer owes us nothing more. Stop it, so the connection closes now rather than when the peer hangs up.
        await _stop.CancelAsync();
        await _pump;
        await Stream.DisposeAsync();
        _stop.Dispose();
    }

    private async Task PumpAsync()
    {
        // Runs inline up to the first read that has to wait: input the handshake already buffered is in the pipe
        // by the time the constructor returns.
        var writer = _input.Writer;
        Exception? failure = null;
        try
        {
            while (true)
            {
                var read = await Stream.ReadAsync(writer.GetMemory(ReadSize), _stop.Token);
                if (read == 0)
                {
                    break;
                }

                writer.Advance(read);
                // Cancellable: a session that stopped reading (it waits for the peer to read its replies) leaves
                // this flush paused at the pipe's threshold, and disposing must still end the pump.
                var flushed = await writer.FlushAsync(_stop.Token);
                if (flushed.IsCompleted)
                {
                    break;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or System.Security.Authentication.AuthenticationException)
        {
            failure = new IOException("TLS connection failed: " + ex.Message, ex);
        }
        catch (Exception ex) when (ex is ObjectDisposedException or OperationCanceledException or InvalidOperationException)
        {
            // Disposed by the session while a read was pending.
        }

        await writer.CompleteAsync(failure);
    }
}
