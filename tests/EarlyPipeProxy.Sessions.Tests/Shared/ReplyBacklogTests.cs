using System.Diagnostics;
using EarlyPipeProxy.Sessions.Configuration;
using EarlyPipeProxy.Sessions.Telemetry;
using EarlyPipeProxy.Sessions.Tests.TestSupport;

namespace EarlyPipeProxy.Sessions.Tests.Shared;

/// <summary>
/// Issue 11, item 2: a peer that pipelines without ever reading its replies. Before, the replies piled up unflushed
/// in the session for as long as the peer kept sending (one client grew the proxy by 255 MB in 35 s). Now the
/// session holds at most <see cref="ListenerLimits.MaxUnflushedReplyBytes"/> (and the reply that crossed it), then
/// waits for the peer to read before it takes more input; a peer that does not read for the command timeout is
/// dropped as a timeout. Both directions, cleartext and TLS.
/// </summary>
public sealed class ReplyBacklogTests
{
    private const int Limit = ListenerLimits.MinUnflushedReplyBytes;

    /// <summary>The longest reply the streams below get: one may cross the limit before the flush.</summary>
    private const int LongestReply = 256;

    private static readonly TimeSpan CommandTimeout = TimeSpan.FromMilliseconds(500);

    /// <summary>The command timeout, the 421's own bounded flush (5 s) and room for a loaded machine.</summary>
    private static readonly TimeSpan EndBound = TimeSpan.FromSeconds(15);

    [Theory]
    [InlineData(Direction.Inbound)]
    [InlineData(Direction.Outbound)]
    public async Task Noops_pipelined_without_reading_hold_at_most_the_limit_and_end_as_a_timeout(string direction)
    {
        await using var session = Create(direction, FakeBackendOptions.Lockstep(), peerTls: false);
        await session.StartAndEhloAsync();

        var most = await StreamWithoutReadingAsync(session, "NOOP\r\n", sample: true);

        Assert.True(session.Run.IsCompleted, "the session did not end while its peer did not read\n" + session.Describe());
        Assert.InRange(most, 0, Limit + LongestReply);
        Assert.EndsWith("end=\"timeout\"", session.SessionLine(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(Direction.Inbound)]
    [InlineData(Direction.Outbound)]
    public async Task Bdat_chunks_pipelined_without_reading_hold_at_most_the_limit_and_end_as_a_timeout(string direction)
    {
        await using var session = Create(direction, FakeBackendOptions.Pipelining("CHUNKING"), peerTls: false);
        await session.StartAndEhloAsync();
        Assert.Equal(["250 2.1.0 Ok"], await session.CommandAsync(HarnessExtensions.Sender));
        Assert.Equal(["250 2.1.5 Ok"], await session.CommandAsync(HarnessExtensions.Recipient));

        // Each chunk's data is read as a body, not as a command: the limit holds before those reads too.
        var most = await StreamWithoutReadingAsync(session, "BDAT 1\r\nx", sample: true);

        Assert.True(session.Run.IsCompleted, "the session did not end while its peer did not read\n" + session.Describe());
        Assert.InRange(most, 0, Limit + LongestReply);
        Assert.True(session.SessionLine().Contains("end=\"timeout\"", StringComparison.Ordinal), session.Describe());
    }

    [Theory]
    [InlineData(Direction.Inbound)]
    [InlineData(Direction.Outbound)]
    public async Task Under_tls_a_peer_that_stops_reading_still_ends_the_session(string direction)
    {
        await using var session = Create(direction, FakeBackendOptions.Lockstep(), peerTls: true);
        await session.StartAndEhloAsync();
        Assert.StartsWith("220 ", (await session.CommandAsync("STARTTLS"))[0], StringComparison.Ordinal);
        await session.Client.StartTlsAsync();
        Assert.StartsWith("250 ", (await session.CommandAsync(session.Ehlo))[^1], StringComparison.Ordinal);

        // The client's TLS layer keeps decrypting into a pipe nobody reads; once that is full it takes no more.
        await StreamWithoutReadingAsync(session, "NOOP\r\n", sample: false);

        Assert.True(session.Run.IsCompleted, "the TLS session did not end while its peer did not read\n" + session.Describe());
        Assert.Contains("end=\"timeout\"", session.SessionLine(), StringComparison.Ordinal);
    }

    private static DirectedSession Create(string direction, FakeBackendOptions upstream, bool peerTls) =>
        DirectedSession.Create(direction, upstream, peerTls, limits: l => l.MaxUnflushedReplyBytes = Limit, timeouts: t => t.Command = CommandTimeout);

    /// <summary>
    /// Sends <paramref name="unit"/> over and over, never reading, until the session ends or <see cref="EndBound"/>
    /// passes; returns the most the session was seen holding unflushed (when <paramref name="sample"/>).
    /// </summary>
    private static async Task<long> StreamWithoutReadingAsync(DirectedSession session, string unit, bool sample)
    {
        var chunk = Wire.Bytes(string.Concat(Enumerable.Repeat(unit, 1000)));
        var elapsed = Stopwatch.StartNew();
        var sending = Task.Run(async () =>
        {
            try
            {
                while (!session.Run.IsCompleted && elapsed.Elapsed < EndBound)
                {
                    await session.Client.SendAsync(chunk);
                }
            }
            catch (Exception ex) when (ex is IOException or InvalidOperationException or ObjectDisposedException or OperationCanceledException)
            {
                // The session ended while a write was waiting for it to read.
            }
        });

        long most = 0;
        while (!session.Run.IsCompleted && elapsed.Elapsed < EndBound)
        {
            if (sample)
            {
                most = Math.Max(most, session.Client.SessionUnflushedBytes);
            }

            await Task.Delay(1);
        }

        await Task.WhenAny(sending, Task.Delay(Wire.Patience));
        return most;
    }
}
