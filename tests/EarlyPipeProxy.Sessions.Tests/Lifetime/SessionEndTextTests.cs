using EarlyPipeProxy.Sessions.Lifetime;
using EarlyPipeProxy.Sessions.Telemetry;
using EarlyPipeProxy.Sessions.Upstream;

namespace EarlyPipeProxy.Sessions.Tests.Lifetime;

public sealed class SessionEndTextTests
{
    public static TheoryData<SessionEnd, string> EveryEndBothWays()
    {
        var data = new TheoryData<SessionEnd, string>();
        foreach (var end in Enum.GetValues<SessionEnd>())
        {
            data.Add(end, Direction.Inbound);
            data.Add(end, Direction.Outbound);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(EveryEndBothWays))]
    public void Every_end_has_words_of_its_own_never_the_enum_name(SessionEnd end, string direction)
    {
        foreach (var failure in Enum.GetValues<UpstreamFailure>())
        {
            var text = SessionEndText.Describe(end, direction, "554", failure);

            Assert.False(string.IsNullOrWhiteSpace(text));
            Assert.NotEqual(end.ToString(), text);
            Assert.DoesNotContain(end.ToString(), text, StringComparison.Ordinal);
            Assert.DoesNotContain(failure.ToString(), text, StringComparison.Ordinal);

            // Each direction names its own sides.
            var (other1, other2) = direction == Direction.Inbound ? ("sender", "remote") : ("client", "backend");
            Assert.DoesNotContain(other1, text, StringComparison.Ordinal);
            Assert.DoesNotContain(other2, text, StringComparison.Ordinal);
        }
    }

    [Theory]
    [MemberData(nameof(EveryEndBothWays))]
    public void The_metric_outcome_is_the_one_the_end_words_had_before_the_enum(SessionEnd end, string direction)
    {
        var text = SessionEndText.Describe(end, direction, null, UpstreamFailure.Closed);

        // The mapping dashboards were built on, when the outcome was derived from the end= text.
        var before = text switch
        {
            "QUIT" => SessionOutcomes.Completed,
            "client closed" or "sender closed" or "shutdown" => SessionOutcomes.Closed,
            _ => SessionOutcomes.Error,
        };
        Assert.Equal(before, SessionEndText.Outcome(end));
    }

    [Fact]
    public void Ends_have_distinct_words_in_each_direction()
    {
        foreach (var direction in new[] { Direction.Inbound, Direction.Outbound })
        {
            var texts = Enum.GetValues<SessionEnd>().Select(end => SessionEndText.Describe(end, direction, "554", UpstreamFailure.Timeout)).ToList();
            Assert.Equal(texts.Count, texts.Distinct(StringComparer.Ordinal).Count());
        }
    }

    [Fact]
    public void Outcome_is_completed_for_quit_closed_for_a_peer_leaving_or_a_stop_and_error_otherwise()
    {
        foreach (var end in Enum.GetValues<SessionEnd>())
        {
            var expected = end switch
            {
                SessionEnd.Quit => "completed",
                SessionEnd.PeerClosed or SessionEnd.Shutdown => "closed",
                _ => "error",
            };
            Assert.Equal(expected, SessionEndText.Outcome(end));
        }
    }

    [Theory]
    [InlineData(SessionEnd.Quit, Direction.Inbound, "QUIT")]
    [InlineData(SessionEnd.Quit, Direction.Outbound, "QUIT")]
    [InlineData(SessionEnd.PeerClosed, Direction.Inbound, "client closed")]
    [InlineData(SessionEnd.PeerClosed, Direction.Outbound, "sender closed")]
    [InlineData(SessionEnd.Shutdown, Direction.Inbound, "shutdown")]
    [InlineData(SessionEnd.Timeout, Direction.Inbound, "timeout")]
    [InlineData(SessionEnd.Timeout, Direction.Outbound, "timeout")]
    [InlineData(SessionEnd.TlsHandshakeFailed, Direction.Inbound, "TLS handshake failed")]
    [InlineData(SessionEnd.TlsHandshakeFailed, Direction.Outbound, "TLS handshake failed")]
    [InlineData(SessionEnd.UpstreamClosedWith421, Direction.Inbound, "backend closed with 421")]
    [InlineData(SessionEnd.UpstreamClosedWith421, Direction.Outbound, "remote closed with 421")]
    [InlineData(SessionEnd.DataBefore354, Direction.Inbound, "synchronization error (data before 354)")]
    [InlineData(SessionEnd.DataBefore354, Direction.Outbound, "synchronization error (data before 354)")]
    [InlineData(SessionEnd.InputBeforeGreeting, Direction.Inbound, "synchronization error (input before greeting)")]
    [InlineData(SessionEnd.PeerClosedMidCommand, Direction.Inbound, "client closed mid-command")]
    [InlineData(SessionEnd.ProxyHeaderNotAccepted, Direction.Inbound, "PROXY header from an address not in AcceptProxyHeaderFrom")]
    [InlineData(SessionEnd.PeerLostDuringData, Direction.Outbound, "sender connection lost during DATA")]
    public void The_words_operators_grep_stay(SessionEnd end, string direction, string expected)
    {
        Assert.Equal(expected, SessionEndText.Describe(end, direction, null, UpstreamFailure.Closed));
    }

    [Theory]
    [InlineData(UpstreamFailure.Timeout, "backend timeout")]
    [InlineData(UpstreamFailure.Unreachable, "backend unreachable")]
    [InlineData(UpstreamFailure.Closed, "backend closed")]
    [InlineData(UpstreamFailure.TlsFailed, "backend TLS failed")]
    [InlineData(UpstreamFailure.MalformedReply, "backend refused or misbehaved")]
    public void An_unavailable_upstream_says_how(UpstreamFailure failure, string expected)
    {
        Assert.Equal(expected, SessionEndText.Describe(SessionEnd.UpstreamUnavailable, Direction.Inbound, null, failure));
        Assert.Equal(expected.Replace("backend", "remote", StringComparison.Ordinal),
            SessionEndText.Describe(SessionEnd.UpstreamUnavailable, Direction.Outbound, null, failure));
    }

    [Fact]
    public void A_refused_greeting_carries_its_code()
    {
        Assert.Equal("backend greeting 554", SessionEndText.Describe(SessionEnd.UpstreamGreeting, Direction.Inbound, "554", UpstreamFailure.Closed));
        Assert.Equal("remote greeting 421", SessionEndText.Describe(SessionEnd.UpstreamGreeting, Direction.Outbound, "421", UpstreamFailure.Closed));
    }
}
