using EarlyPipeProxy.Sessions.Tests.TestSupport;
using static EarlyPipeProxy.Sessions.Tests.TestSupport.HarnessExtensions;

namespace EarlyPipeProxy.Sessions.Tests.Shared;

/// <summary>
/// Both directions hold a message transfer to the minimum data rate: a peer that trickles its body, every byte well
/// within the data timeout of the one before, gets 421 4.4.2 once the data timeout is spent, and the upstream
/// connection is reset, never given an end of data. (The arithmetic is proven on a fake clock in
/// RequestDeadlineTests; here a trickle of ten octets a second against a 400 ms data timeout must end within seconds.)
/// </summary>
public sealed class MinimumDataRateTests
{
    private const string Timeout421 = "421 4.4.2 Error: timeout exceeded\r\n";
    private static readonly TimeSpan DataTimeout = TimeSpan.FromMilliseconds(400);

    /// <summary>Sends "x" every 100 ms until <paramref name="stop"/> (or 60 of them).</summary>
    private static async Task TrickleAsync(TestClient client, CancellationToken stop)
    {
        for (var i = 0; i < 60 && !stop.IsCancellationRequested; i++)
        {
            await client.SendAsync("x");
            await Task.Delay(100, stop).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    [Fact]
    public async Task Inbound_a_bdat_chunk_trickled_below_the_rate_gets_421_and_the_backend_is_reset_without_it()
    {
        // Arrange
        await using var harness = new SessionHarness(FakeBackendOptions.Lockstep("CHUNKING"), o => o.Timeouts.Data = DataTimeout);
        await harness.StartUpToRecipientAsync();
        var backend = await harness.BackendAsync();
        await harness.Client.SendAsync("BDAT 100 LAST\r\n");

        // Act
        using var stop = new CancellationTokenSource();
        var trickle = TrickleAsync(harness.Client, stop.Token);
        var everything = await harness.Client.ReadToEndAsync();
        await stop.CancelAsync();
        await trickle;
        await harness.WaitForEndAsync();

        // Assert
        Assert.Equal(Timeout421, everything);
        Assert.True(await backend.SessionClosed.WaitAsync(Wire.Patience), "a half-relayed chunk must be reset");
        Assert.Empty(backend.Chunks);
    }

    [Fact]
    public async Task Outbound_a_body_trickled_below_the_rate_gets_421_and_the_remote_is_reset_without_an_end_of_data()
    {
        // Arrange
        await using var harness = new OutboundSessionHarness(FakeBackendOptions.Lockstep(), configure: o => o.Timeouts.Data = DataTimeout);
        await harness.StartTransactionAsync(FakeBackendOptions.FinalBannerLine, Recipient);
        Assert.Equal(["354 End data with <CR><LF>.<CR><LF>"], await harness.CommandAsync("DATA"));
        await harness.Client.SendAsync("Subject: slow\r\n\r\n");

        // Act
        using var stop = new CancellationTokenSource();
        var trickle = TrickleAsync(harness.Client, stop.Token);
        var everything = await harness.Client.ReadToEndAsync();
        await stop.CancelAsync();
        await trickle;
        await harness.WaitForEndAsync();

        // Assert
        Assert.Equal(Timeout421, everything);
        var remote = await harness.RemoteAsync();
        Assert.True(await remote.SessionClosed.WaitAsync(Wire.Patience), "a half-relayed message must be reset");
        Assert.Empty(remote.Messages);
    }
}
