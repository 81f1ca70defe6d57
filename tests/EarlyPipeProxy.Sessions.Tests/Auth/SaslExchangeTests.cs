using System.Buffers;
using EarlyPipeProxy.Sessions.Auth;
using EarlyPipeProxy.Sessions.Configuration;
using EarlyPipeProxy.Sessions.Tests.TestSupport;

namespace EarlyPipeProxy.Sessions.Tests.Auth;

public sealed class SaslExchangeTests
{
    private const string Answers = "dXNlcg==\r\nUVVJVA==\r\nQUIT\r\n";

    /// <summary>The session's part: the answers leave, the upstream's next reply is read and relayed to the peer.</summary>
    private static Func<ValueTask<int>> Relay(DownstreamPair peer, UpstreamPair upstream) => async () =>
    {
        await upstream.Channel.FlushAsync();
        var reply = await upstream.Channel.ReadReplyAsync(TimeSpan.FromMinutes(1));
        peer.Channel.Write(reply.Raw);
        upstream.Channel.ReleaseReply();
        return reply.Code;
    };

    public static TheoryData<int> Splits()
    {
        var data = new TheoryData<int>();
        for (var split = 0; split <= Answers.Length; split++)
        {
            data.Add(split);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Splits))]
    public async Task Answers_are_relayed_line_by_line_until_a_reply_is_not_334(int split)
    {
        await using var peer = new DownstreamPair();
        await using var upstream = await UpstreamPair.ConnectAsync();
        await upstream.SendAsync("334 UGFzc3dvcmQ6\r\n334 again\r\n235 2.7.0 Authentication successful\r\n");
        await peer.SendAsync(Answers[..split]);
        var sender = split < Answers.Length ? peer.SendWhenWaitingAsync(Answers[split..] + "NOOP\r\n") : peer.SendAsync("NOOP\r\n");

        var code = await Task.Run(() => SaslExchange.RelayAsync(peer.Channel, upstream.Channel, 334, Relay(peer, upstream)).AsTask())
            .WaitAsync(Wire.Patience);
        await sender;
        await peer.Channel.FlushAsync();

        Assert.Equal(235, code);

        // "QUIT" is an answer here, never a command.
        Assert.Equal(Answers, upstream.TakeReceived());
        Assert.Equal("334 UGFzc3dvcmQ6\r\n334 again\r\n235 2.7.0 Authentication successful\r\n", peer.TakeFlushed());
        Assert.Equal(0, peer.Record.Commands);

        // The exchange read nothing beyond its answers.
        var next = await peer.Channel.ReadCommandAsync();
        Assert.Equal("NOOP", Wire.Text(next.Line.ToArray()));
    }

    [Fact]
    public async Task A_first_code_that_is_not_334_ends_at_once()
    {
        await using var peer = new DownstreamPair();
        await using var upstream = await UpstreamPair.ConnectAsync();
        await peer.SendAsync("dXNlcg==\r\n");

        Assert.Equal(235, await SaslExchange.RelayAsync(peer.Channel, upstream.Channel, 235, () => throw new InvalidOperationException("no reply expected")));
        Assert.Equal(string.Empty, upstream.TakeReceived());
    }

    [Theory]
    [InlineData("dXNlcg==dXNlcg==dXNlcg==dXNlcg==dXNlcg==dXNlcg==dXNlcg==dXNlcg==\r\n")]
    [InlineData("dXNl\ncg==\r\n")]
    [InlineData("dXNl\0cg==\r\n")]
    [InlineData("dXNlcg==\u0001\r\n")]
    [InlineData("\u007fdXNlcg==\r\n")]
    public async Task An_answer_the_proxy_will_not_relay_cancels_the_exchange(string answer)
    {
        await using var peer = new DownstreamPair(new ListenerLimits { MaxLineLength = 16, MaxAuthLineLength = 32 });
        await using var upstream = await UpstreamPair.ConnectAsync();
        await upstream.SendAsync("501 5.7.0 Authentication cancelled\r\n");
        await peer.SendAsync(answer);

        var code = await SaslExchange.RelayAsync(peer.Channel, upstream.Channel, 334, Relay(peer, upstream)).AsTask().WaitAsync(Wire.Patience);

        Assert.Equal(501, code);
        Assert.Equal("*\r\n", upstream.TakeReceived());
    }

    [Fact]
    public async Task The_peer_leaving_during_the_exchange_is_null()
    {
        await using var peer = new DownstreamPair();
        await using var upstream = await UpstreamPair.ConnectAsync();
        await upstream.SendAsync("334 more\r\n");
        await peer.SendAsync("dXNlcg==\r\ncGFz");
        peer.ClosePeer();

        var code = await SaslExchange.RelayAsync(peer.Channel, upstream.Channel, 334, Relay(peer, upstream)).AsTask().WaitAsync(Wire.Patience);

        Assert.Null(code);
        Assert.Equal("dXNlcg==\r\n", upstream.TakeReceived());
    }

    [Fact]
    public async Task Settling_that_ends_the_session_during_the_exchange_is_null()
    {
        await using var peer = new DownstreamPair { SettleResult = false };
        await using var upstream = await UpstreamPair.ConnectAsync();

        var code = await SaslExchange.RelayAsync(peer.Channel, upstream.Channel, 334, Relay(peer, upstream)).AsTask().WaitAsync(Wire.Patience);

        Assert.Null(code);
    }

    [Fact]
    public async Task A_graceful_stop_waits_for_the_exchange_to_end()
    {
        await using var peer = new DownstreamPair();
        await using var upstream = await UpstreamPair.ConnectAsync();
        await upstream.SendAsync("235 2.7.0 ok\r\n");

        var exchange = Task.Run(() => SaslExchange.RelayAsync(peer.Channel, upstream.Channel, 334, Relay(peer, upstream)).AsTask());
        await peer.WaitForSettleAsync();
        peer.Channel.Input.CancelPendingRead();
        await peer.WaitForSettleAsync();
        Assert.False(exchange.IsCompleted);
        await peer.SendAsync("dXNlcg==\r\n");

        Assert.Equal(235, await exchange.WaitAsync(Wire.Patience));
    }
}
