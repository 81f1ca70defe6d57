using EarlyPipeProxy.Sessions.Lifetime;
using Microsoft.Extensions.Time.Testing;

namespace EarlyPipeProxy.Sessions.Tests.Lifetime;

public sealed class SessionDeadlineTests
{
    private readonly FakeTimeProvider _time = new();

    [Fact]
    public void A_scope_is_cancelled_after_its_timeout_and_that_is_a_timeout()
    {
        using var deadline = new SessionDeadline(CancellationToken.None, _time);
        using var scope = deadline.Begin(TimeSpan.FromSeconds(10));

        _time.Advance(TimeSpan.FromSeconds(9));
        Assert.False(scope.Token.IsCancellationRequested);
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(scope.Token.IsCancellationRequested);
        Assert.True(deadline.IsTimeout(new OperationCanceledException(scope.Token)));
        Assert.False(deadline.IsTimeout(new IOException()));
    }

    [Fact]
    public void A_scope_with_no_time_left_starts_cancelled_and_that_is_a_timeout()
    {
        using var deadline = new SessionDeadline(CancellationToken.None, _time);

        using (var spent = deadline.Begin(TimeSpan.FromSeconds(-1)))
        {
            Assert.True(spent.Token.IsCancellationRequested);
            Assert.True(deadline.IsTimeout(new OperationCanceledException(spent.Token)));
        }

        // The next wait is a fresh one.
        using var next = deadline.Begin(TimeSpan.FromSeconds(1));
        Assert.False(next.Token.IsCancellationRequested);
    }

    [Fact]
    public void A_wait_longer_than_a_timer_can_hold_is_a_wait_without_end_not_an_error()
    {
        using var deadline = new SessionDeadline(CancellationToken.None, _time);

        // Ten gigabytes at 500 octets a second.
        using var scope = deadline.Begin(TimeSpan.FromSeconds(20_000_000));

        Assert.False(scope.Token.IsCancellationRequested);
    }

    [Fact]
    public void Ending_a_scope_clears_its_timeout()
    {
        using var deadline = new SessionDeadline(CancellationToken.None, _time);
        var first = deadline.Begin(TimeSpan.FromSeconds(1));
        first.Dispose();
        _time.Advance(TimeSpan.FromSeconds(2));
        Assert.False(first.Token.IsCancellationRequested);

        // A second wait longer than the first timeout is not cancelled by it.
        using var second = deadline.Begin(TimeSpan.FromSeconds(10));
        _time.Advance(TimeSpan.FromSeconds(5));
        Assert.False(second.Token.IsCancellationRequested);
        _time.Advance(TimeSpan.FromSeconds(5));
        Assert.True(second.Token.IsCancellationRequested);
    }

    [Fact]
    public void A_later_scope_gets_all_its_time_though_the_timer_was_armed_for_an_earlier_one()
    {
        using var deadline = new SessionDeadline(CancellationToken.None, _time);
        deadline.Begin(TimeSpan.FromSeconds(10)).Dispose();
        _time.Advance(TimeSpan.FromSeconds(5));

        // Due at 15 s; the timer still fires at 10 s for the first scope, which must not end this one.
        using var second = deadline.Begin(TimeSpan.FromSeconds(10));
        _time.Advance(TimeSpan.FromSeconds(5));
        Assert.False(second.Token.IsCancellationRequested);
        _time.Advance(TimeSpan.FromSeconds(5) - TimeSpan.FromTicks(1));
        Assert.False(second.Token.IsCancellationRequested);
        _time.Advance(TimeSpan.FromTicks(1));
        Assert.True(second.Token.IsCancellationRequested);
    }

    [Fact]
    public void A_shorter_scope_after_a_longer_one_times_out_on_its_own_time()
    {
        using var deadline = new SessionDeadline(CancellationToken.None, _time);
        deadline.Begin(TimeSpan.FromMinutes(5)).Dispose();

        using var shorter = deadline.Begin(TimeSpan.FromSeconds(2));
        _time.Advance(TimeSpan.FromSeconds(2) - TimeSpan.FromTicks(1));
        Assert.False(shorter.Token.IsCancellationRequested);
        _time.Advance(TimeSpan.FromTicks(1));
        Assert.True(shorter.Token.IsCancellationRequested);
    }

    [Fact]
    public void After_a_handled_timeout_the_next_scope_starts_uncancelled_and_still_times_out()
    {
        using var deadline = new SessionDeadline(CancellationToken.None, _time);
        using (var first = deadline.Begin(TimeSpan.FromSeconds(1)))
        {
            _time.Advance(TimeSpan.FromSeconds(1));
            Assert.True(first.Token.IsCancellationRequested);
        }

        using var next = deadline.Begin(TimeSpan.FromSeconds(3));
        Assert.False(next.Token.IsCancellationRequested);
        _time.Advance(TimeSpan.FromSeconds(3));
        Assert.True(next.Token.IsCancellationRequested);
    }

    [Fact]
    public async Task The_sessions_abort_cancels_a_scope_and_is_no_timeout()
    {
        using var abort = new CancellationTokenSource();
        using var deadline = new SessionDeadline(abort.Token, _time);
        using var scope = deadline.Begin(TimeSpan.FromMinutes(5));

        await abort.CancelAsync();

        Assert.True(scope.Token.IsCancellationRequested);
        Assert.False(deadline.IsTimeout(new OperationCanceledException(scope.Token)));
        Assert.Equal(abort.Token, deadline.Aborted);

        // Every later wait is cancelled at once.
        using var later = deadline.Begin(TimeSpan.FromMinutes(5));
        Assert.True(later.Token.IsCancellationRequested);
    }

    [Fact]
    public async Task The_abort_still_cancels_scopes_after_a_handled_timeout()
    {
        using var abort = new CancellationTokenSource();
        using var deadline = new SessionDeadline(abort.Token, _time);
        using (deadline.Begin(TimeSpan.FromSeconds(1)))
        {
            _time.Advance(TimeSpan.FromSeconds(1));
        }

        using var next = deadline.Begin(TimeSpan.FromMinutes(5));
        Assert.False(next.Token.IsCancellationRequested);
        await abort.CancelAsync();
        Assert.True(next.Token.IsCancellationRequested);
        Assert.False(deadline.IsTimeout(new OperationCanceledException(next.Token)));
    }

    [Fact]
    public void Without_a_time_provider_the_system_clock_times_out()
    {
        using var deadline = new SessionDeadline(CancellationToken.None);
        using var scope = deadline.Begin(TimeSpan.FromMilliseconds(20));

        Assert.True(scope.Token.WaitHandle.WaitOne(TimeSpan.FromSeconds(3)));
    }
}
