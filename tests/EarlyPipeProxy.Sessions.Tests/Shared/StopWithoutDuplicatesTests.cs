using EarlyPipeProxy.Sessions.Telemetry;
using EarlyPipeProxy.Sessions.Tests.TestSupport;

namespace EarlyPipeProxy.Sessions.Tests.Shared;

/// <summary>
/// Issue 11 item 7: stopping never duplicates, in both directions. A peer whose end of data is at the upstream gets
/// the upstream's own verdict before the 421, however the stop goes on meanwhile (its cut-off passing); a message that
/// has not ended at the cut-off is abandoned without the upstream ever seeing its end; the stop's hard end cuts a
/// session without a word, never with a 250 the upstream did not give, and says in the session line that a verdict
/// was lost.
/// </summary>
public sealed class StopWithoutDuplicatesTests
{
    private const string ShuttingDown = "421 4.3.2 Service shutting down\r\n";
    private const string Body = "Subject: stop\r\n\r\nthe whole message\r\n";

    [Theory]
    [InlineData(Direction.Inbound)]
    [InlineData(Direction.Outbound)]
    public async Task StopAndCutOff_WhileTheUpstreamHoldsItsVerdict_PeerGetsTheUpstreamsVerdictThen421_OneMessage(string direction)
    {
        // Arrange: the dot is at the upstream, which takes its time over the verdict.
        var verdict = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var upstreamOptions = FakeBackendOptions.Lockstep();
        upstreamOptions.HoldVerdictUntil = verdict.Task;
        await using var session = DirectedSession.Create(direction, upstreamOptions);
        await session.StartAndEhloAsync();
        Assert.Equal(["250 2.1.0 Ok"], await session.CommandAsync(HarnessExtensions.Sender));
        Assert.Equal(["250 2.1.5 Ok"], await session.CommandAsync(HarnessExtensions.Recipient));
        Assert.Equal(["354 End data with <CR><LF>.<CR><LF>"], await session.CommandAsync("DATA"));
        await session.Client.SendAsync(Body + ".\r\n");
        var upstream = await session.UpstreamAsync();
        await upstream.EndOfDataReceived.WaitAsync(Wire.Patience);

        // Act: the whole stop short of its hard end passes while the verdict is awaited.
        session.RequestClose();
        session.PassStopCutOff();
        var quietWhileAwaited = await session.Client.IsQuietAsync(TimeSpan.FromMilliseconds(200));
        verdict.SetResult();
        var endOfData = await session.Client.ReadReplyAsync();
        var rest = await session.Client.ReadToEndAsync();
        await session.WaitForEndAsync();

        // Assert: the peer
        Assert.True(quietWhileAwaited, "nothing is said to the peer while its verdict is awaited\n" + session.Describe());
        Assert.Equal(["250 2.0.0 Ok: queued as 1"], endOfData);
        Assert.Equal(ShuttingDown, rest);

        // Assert: one message, the upstream closed politely (a reset after its verdict would change nothing, but
        // nothing was under way)
        Assert.Equal([Body], upstream.Messages);
        Assert.False(await upstream.SessionClosed.WaitAsync(Wire.Patience), "the transaction was over: the upstream is closed politely");
        var line = session.SessionLine();
        Assert.Contains(" M=1 ", line, StringComparison.Ordinal);
        Assert.EndsWith("end=\"shutdown\"", line, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(Direction.Inbound)]
    [InlineData(Direction.Outbound)]
    public async Task CutOff_BeforeTheFinalDot_UpstreamNeverSeesTheEnd_PeerGets421_EndAbandoned(string direction)
    {
        // Arrange: the stop is asked for in the middle of a message, which the session at first waits for.
        await using var session = DirectedSession.Create(direction, FakeBackendOptions.Lockstep());
        await session.StartAndEhloAsync();
        Assert.Equal(["250 2.1.0 Ok"], await session.CommandAsync(HarnessExtensions.Sender));
        Assert.Equal(["250 2.1.5 Ok"], await session.CommandAsync(HarnessExtensions.Recipient));
        Assert.Equal(["354 End data with <CR><LF>.<CR><LF>"], await session.CommandAsync("DATA"));
        await session.Client.SendAsync("Subject: stop\r\n\r\nfirst part\r\n");
        session.RequestClose();
        var quietBeforeCutOff = await session.Client.IsQuietAsync(TimeSpan.FromMilliseconds(200));
        var upstream = await session.UpstreamAsync();
        await upstream.WaitForReceivedAsync("first part");

        // Act: the cut-off comes before the end of the message.
        session.PassStopCutOff();
        var everything = await session.Client.ReadToEndAsync();
        await session.WaitForEndAsync();

        // Assert: the peer was told to come back, and the upstream was reset before any end of data
        Assert.True(quietBeforeCutOff, "before the cut-off the message may still end\n" + session.Describe());
        Assert.Equal(ShuttingDown, everything);
        Assert.True(await upstream.SessionClosed.WaitAsync(Wire.Patience), "the upstream is reset, so it never takes the part for a whole message");
        Assert.Empty(upstream.Messages);
        Assert.False(upstream.EndOfDataReceived.IsCompleted, "no end of data reached the upstream");
        var line = session.SessionLine();
        Assert.Contains(" M=0 ", line, StringComparison.Ordinal);
        Assert.EndsWith("end=\"shutdown, message abandoned before its end\"", line, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(Direction.Inbound)]
    [InlineData(Direction.Outbound)]
    public async Task CutOff_InATransactionBeforeData_421AndNoDataReachesTheUpstream(string direction)
    {
        // Arrange: MAIL and RCPT accepted; the peer is slow with its DATA.
        await using var session = DirectedSession.Create(direction, FakeBackendOptions.Lockstep());
        await session.StartAndEhloAsync();
        Assert.Equal(["250 2.1.0 Ok"], await session.CommandAsync(HarnessExtensions.Sender));
        Assert.Equal(["250 2.1.5 Ok"], await session.CommandAsync(HarnessExtensions.Recipient));
        session.RequestClose();
        var quietBeforeCutOff = await session.Client.IsQuietAsync(TimeSpan.FromMilliseconds(200));

        // Act
        session.PassStopCutOff();
        var everything = await session.Client.ReadToEndAsync();
        await session.WaitForEndAsync();

        // Assert
        Assert.True(quietBeforeCutOff, "before the cut-off the transaction may go on\n" + session.Describe());
        Assert.Equal(ShuttingDown, everything);
        var upstream = await session.UpstreamAsync();
        Assert.True(await upstream.SessionClosed.WaitAsync(Wire.Patience), "the upstream is reset");
        Assert.DoesNotContain("DATA", upstream.CommandLines);
        Assert.EndsWith("end=\"shutdown, message abandoned before its end\"", session.SessionLine(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(Direction.Inbound, "backend")]
    [InlineData(Direction.Outbound, "remote")]
    public async Task Abort_WhileTheUpstreamHoldsItsVerdict_NoReplyAtAll_EndSaysTheVerdictWasLost(string direction, string upstreamName)
    {
        // Arrange
        var upstreamOptions = FakeBackendOptions.Lockstep();
        upstreamOptions.HoldVerdictUntil = new TaskCompletionSource().Task;
        await using var session = DirectedSession.Create(direction, upstreamOptions);
        await session.StartAndEhloAsync();
        Assert.Equal(["250 2.1.0 Ok"], await session.CommandAsync(HarnessExtensions.Sender));
        Assert.Equal(["250 2.1.5 Ok"], await session.CommandAsync(HarnessExtensions.Recipient));
        Assert.Equal(["354 End data with <CR><LF>.<CR><LF>"], await session.CommandAsync("DATA"));
        await session.Client.SendAsync(Body + ".\r\n");
        var upstream = await session.UpstreamAsync();
        await upstream.EndOfDataReceived.WaitAsync(Wire.Patience);
        session.RequestClose();
        session.PassStopCutOff();

        // Act: the stop's hard end.
        session.Abort();
        var everything = await session.Client.ReadToEndAsync();
        await session.WaitForEndAsync();

        // Assert: not a word the upstream did not say; the line tells the operator a duplicate is possible
        Assert.Equal(string.Empty, everything);
        Assert.True(await upstream.SessionClosed.WaitAsync(Wire.Patience), "the upstream is reset");
        Assert.EndsWith($"end=\"connection aborted awaiting the {upstreamName}'s verdict\"", session.SessionLine(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Inbound_CutOff_InTheMiddleOfABdatLastChunk_BackendNeverGetsItsLastOctet()
    {
        // Arrange
        await using var harness = new SessionHarness(FakeBackendOptions.Pipelining("CHUNKING"));
        await harness.StartAndEhloAsync();
        await harness.Client.SendAsync($"{HarnessExtensions.Sender}\r\n{HarnessExtensions.Recipient}\r\n");
        Assert.Equal(["250 2.1.0 Ok"], await harness.Client.ReadReplyAsync());
        Assert.Equal(["250 2.1.5 Ok"], await harness.Client.ReadReplyAsync());
        await harness.Client.SendAsync("BDAT 40 LAST\r\nSubject: stop\r\n\r\nhalf");
        var backend = await harness.BackendAsync();
        await backend.WaitForReceivedAsync("half");
        harness.RequestClose();

        // Act
        harness.PassStopCutOff();
        var everything = await harness.Client.ReadToEndAsync();
        await harness.WaitForEndAsync();

        // Assert
        Assert.Equal(ShuttingDown, everything);
        Assert.True(await backend.SessionClosed.WaitAsync(Wire.Patience), "the backend is reset mid-chunk");
        Assert.Empty(backend.Chunks);
        Assert.False(backend.EndOfDataReceived.IsCompleted);
    }
}
