using EarlyPipeProxy.Sessions.Configuration;
using EarlyPipeProxy.Sessions.Downstream;
using EarlyPipeProxy.Sessions.Messages;
using EarlyPipeProxy.Sessions.Tests.TestSupport;

namespace EarlyPipeProxy.Sessions.Tests.Downstream;

/// <summary>
/// A request's time is counted over its waits (Postfix's smtpd_per_request_deadline): a peer that trickles a byte now
/// and then does not extend it; a message transfer earns time only at the minimum data rate (smtpd_min_data_rate).
/// Time is moved only once the channel waits (<see cref="ArmedTimeProvider"/>), so nothing here depends on the clock.
/// </summary>
public sealed class RequestDeadlineTests
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(3);

    /// <summary>Each step: wait until the reader waits, let <see cref="Step"/> pass, send one character.</summary>
    private static async Task TrickleAsync(ArmedTimeProvider time, DownstreamPair pair, string text, int steps)
    {
        for (var i = 0; i < steps; i++)
        {
            await time.WaitArmedAsync();
            time.Advance(Step);
            await pair.SendAsync(text[i].ToString());
        }
    }

    [Fact]
    public async Task A_command_line_trickled_a_byte_at_a_time_is_cut_at_the_command_timeout_counted_from_its_first_wait()
    {
        // Arrange: 10 s for a line; a byte every 3 s has used it up at the fourth wait.
        using var time = new ArmedTimeProvider();
        await using var pair = new DownstreamPair(timeouts: new SessionTimeouts { Command = TimeSpan.FromSeconds(10) }, time: time);

        // Act
        var read = Task.Run(() => pair.Channel.ReadCommandAsync().AsTask());
        await TrickleAsync(time, pair, "NOOP", steps: 4);

        // Assert: a timeout (the session answers it with 421 4.4.2), not a line and not an endless wait.
        var thrown = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => read.WaitAsync(Wire.Patience));
        Assert.True(pair.Deadline.IsTimeout(thrown));
    }

    [Fact]
    public async Task An_over_long_line_trickled_in_is_cut_on_the_same_time()
    {
        // Arrange: the line is too long before its first wait; skipping the rest of it is still the same request.
        using var time = new ArmedTimeProvider();
        await using var pair = new DownstreamPair(
            limits: new ListenerLimits { MaxLineLength = 64 }, timeouts: new SessionTimeouts { Command = TimeSpan.FromSeconds(10) }, time: time);
        await pair.SendAsync("NOOP " + new string('x', 100));

        // Act
        var read = Task.Run(() => pair.Channel.ReadCommandAsync().AsTask());
        await TrickleAsync(time, pair, "xxxx", steps: 4);

        // Assert
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => read.WaitAsync(Wire.Patience));
    }

    [Fact]
    public async Task Each_command_line_has_the_whole_command_timeout()
    {
        // Arrange
        using var time = new ArmedTimeProvider();
        await using var pair = new DownstreamPair(timeouts: new SessionTimeouts { Command = TimeSpan.FromSeconds(10) }, time: time);

        // Act: three lines, each after 9 s of silence: 27 s in all, never 10 s for one line.
        for (var i = 0; i < 3; i++)
        {
            var read = Task.Run(() => pair.Channel.ReadCommandAsync().AsTask());
            await time.WaitArmedAsync();
            time.Advance(TimeSpan.FromSeconds(9));
            await pair.SendAsync("NOOP\r\n");

            // Assert
            Assert.Equal(CommandReadStatus.Command, (await read.WaitAsync(Wire.Patience)).Status);
            pair.Channel.Consume();
        }
    }

    [Fact]
    public async Task Past_the_session_lifetime_the_next_wait_for_a_command_is_cut()
    {
        // Arrange: a 20 s life; two prompt commands 9 s apart leave 2 s for the third.
        using var time = new ArmedTimeProvider();
        var timeouts = new SessionTimeouts { Command = TimeSpan.FromSeconds(10), Session = TimeSpan.FromSeconds(20) };
        await using var pair = new DownstreamPair(timeouts: timeouts, time: time);
        for (var i = 0; i < 2; i++)
        {
            var read = Task.Run(() => pair.Channel.ReadCommandAsync().AsTask());
            await time.WaitArmedAsync();
            time.Advance(TimeSpan.FromSeconds(9));
            await pair.SendAsync("NOOP\r\n");
            Assert.Equal(CommandReadStatus.Command, (await read.WaitAsync(Wire.Patience)).Status);
            pair.Channel.Consume();
        }

        // Act
        var last = Task.Run(() => pair.Channel.ReadCommandAsync().AsTask());
        await time.WaitArmedAsync();
        time.Advance(TimeSpan.FromSeconds(2));

        // Assert
        var thrown = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => last.WaitAsync(Wire.Patience));
        Assert.True(pair.Deadline.IsTimeout(thrown));
    }

    [Fact]
    public async Task A_body_trickled_below_the_minimum_data_rate_is_cut_and_never_ends_at_the_sink()
    {
        // Arrange: 10 s for the body plus 2 ms per octet at 500 octets/s; a byte every 3 s runs out at the fourth wait.
        using var time = new ArmedTimeProvider();
        var timeouts = new SessionTimeouts { Data = TimeSpan.FromSeconds(10), MinDataRate = 500 };
        await using var pair = new DownstreamPair(timeouts: timeouts, time: time);
        var sink = new RecordingBodySink();

        // Act
        var read = Task.Run(() => MessageBodyReader.ReadAsync(pair.Channel, sink, timeouts.Data, pair.Record).AsTask());
        await TrickleAsync(time, pair, "Subj", steps: 4);

        // Assert
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => read.WaitAsync(Wire.Patience));
        Assert.Null(sink.Ended);
    }

    [Fact]
    public async Task Octets_received_earn_a_transfer_time_at_the_minimum_data_rate()
    {
        // Arrange: 10 000 octets at 500 octets/s earn 20 s on top of the 10 s: a 25 s wait for the rest is fine.
        using var time = new ArmedTimeProvider();
        var timeouts = new SessionTimeouts { Data = TimeSpan.FromSeconds(10), MinDataRate = 500 };
        await using var pair = new DownstreamPair(timeouts: timeouts, time: time);
        var sink = new RecordingBodySink();
        var bulk = "Subject: bulk\r\n\r\n" + string.Concat(Enumerable.Repeat(new string('x', 98) + "\r\n", 100));
        await pair.SendAsync(bulk);

        // Act
        var read = Task.Run(() => MessageBodyReader.ReadAsync(pair.Channel, sink, timeouts.Data, pair.Record).AsTask());
        await time.WaitArmedAsync();
        time.Advance(TimeSpan.FromSeconds(25));
        await pair.SendAsync(".\r\n");

        // Assert
        Assert.Equal(MessageBodyOutcome.Complete, await read.WaitAsync(Wire.Patience));
        Assert.Equal(bulk + ".\r\n", sink.Received);
    }

    [Fact]
    public async Task A_transfer_with_too_little_earned_still_runs_out()
    {
        // Arrange: the same 10 000 octets earn 20 s: a 31 s wait for the rest is past the 30 s.
        using var time = new ArmedTimeProvider();
        var timeouts = new SessionTimeouts { Data = TimeSpan.FromSeconds(10), MinDataRate = 500 };
        await using var pair = new DownstreamPair(timeouts: timeouts, time: time);
        var sink = new RecordingBodySink();
        await pair.SendAsync(new string('x', 9998) + "\r\n");

        // Act
        var read = Task.Run(() => MessageBodyReader.ReadAsync(pair.Channel, sink, timeouts.Data, pair.Record).AsTask());
        await time.WaitArmedAsync();
        time.Advance(TimeSpan.FromSeconds(31));

        // Assert
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => read.WaitAsync(Wire.Patience));
        Assert.Null(sink.Ended);
    }
}
