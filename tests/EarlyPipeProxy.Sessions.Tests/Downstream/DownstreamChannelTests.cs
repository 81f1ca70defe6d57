using System.Buffers;
using System.Net.Security;
using EarlyPipeProxy.Sessions.Configuration;
using EarlyPipeProxy.Sessions.Downstream;
using EarlyPipeProxy.Protocol.Replies;
using EarlyPipeProxy.Sessions.Tests.TestSupport;
using EarlyPipeProxy.Sessions.Tls;

namespace EarlyPipeProxy.Sessions.Tests.Downstream;

public sealed class DownstreamChannelTests
{
    private const string Pipelined = "EHLO a\r\nMAIL FROM:<x>\r\nRCPT TO:<y>\r\n";

    private static readonly string[] PipelinedLines = ["EHLO a", "MAIL FROM:<x>", "RCPT TO:<y>"];

    /// <summary>One read as the test sees it: what came, the line's text and whether more was buffered behind it.</summary>
    private readonly record struct Read(CommandReadStatus Status, string Line, bool MoreBuffered, bool MidCommand);

    public static TheoryData<int> PipelinedSplits() => SplitPoints(Pipelined);

    public static TheoryData<int> SplitPoints(string text)
    {
        var data = new TheoryData<int>();
        for (var split = 0; split <= text.Length; split++)
        {
            data.Add(split);
        }

        return data;
    }

    /// <summary>
    /// Sends <paramref name="text"/> in two writes, the second once the channel waits for input, and reads
    /// <paramref name="count"/> results (each line consumed after it was read).
    /// </summary>
    private static async Task<List<Read>> ReadSplitAsync(DownstreamPair pair, string text, int split, int count, bool sasl = false)
    {
        await pair.SendAsync(text[..split]);
        var sender = split < text.Length ? pair.SendWhenWaitingAsync(text[split..]) : Task.CompletedTask;
        var reads = await Task.Run(async () =>
        {
            var list = new List<Read>();
            while (list.Count < count)
            {
                list.Add(await ReadOneAsync(pair.Channel, sasl));
            }

            return list;
        }).WaitAsync(Wire.Patience);
        await sender;
        return reads;
    }

    private static async Task<Read> ReadOneAsync(DownstreamChannel channel, bool sasl = false)
    {
        var read = await channel.ReadCommandAsync(sasl);
        var result = new Read(read.Status, Wire.Text(read.Line.ToArray()), read.MoreBuffered, read.MidCommand);
        if (read.Status == CommandReadStatus.Command)
        {
            Assert.Equal(Wire.Text(read.Line.ToArray()) + "\r\n", Wire.Text(read.LineWithEnding.ToArray()));
            channel.Consume();
        }

        return result;
    }

    [Theory]
    [MemberData(nameof(PipelinedSplits))]
    public async Task Pipelined_commands_written_at_any_split_point_read_the_same(int split)
    {
        await using var pair = new DownstreamPair();

        var reads = await ReadSplitAsync(pair, Pipelined, split, 3);

        Assert.Equal(PipelinedLines, reads.Select(r => r.Line));
        Assert.All(reads, r => Assert.Equal(CommandReadStatus.Command, r.Status));

        // More was buffered behind a line unless the line was the last or the first write ended right after it.
        var lineEnd = 0;
        for (var i = 0; i < 3; i++)
        {
            lineEnd += PipelinedLines[i].Length + 2;
            Assert.True(reads[i].MoreBuffered == (lineEnd < Pipelined.Length && lineEnd != split), $"MoreBuffered of line {i}");
        }

        // Settled only when there was nothing to read.
        Assert.Equal(split < Pipelined.Length ? 1 : 0, pair.Settles);
        Assert.Equal(3, pair.Record.Commands);
        Assert.Equal(Pipelined.Length, pair.Record.BytesFromPeer);
    }

    [Fact]
    public async Task Settling_happens_only_when_the_channel_is_about_to_wait()
    {
        await using var pair = new DownstreamPair();
        await pair.SendAsync("NOOP\r\nNOOP\r\n");

        Assert.Equal("NOOP", (await ReadOneAsync(pair.Channel)).Line);
        Assert.Equal("NOOP", (await ReadOneAsync(pair.Channel)).Line);
        Assert.Equal(0, pair.Settles);

        var third = Task.Run(() => ReadOneAsync(pair.Channel));
        await pair.WaitForSettleAsync();
        Assert.False(third.IsCompleted);
        await pair.SendAsync("QUIT\r\n");
        Assert.Equal(new Read(CommandReadStatus.Command, "QUIT", false, false), await third.WaitAsync(Wire.Patience));
        Assert.Equal(1, pair.Settles);
    }

    [Fact]
    public async Task A_partial_line_buffered_still_settles_and_waits_for_the_rest()
    {
        await using var pair = new DownstreamPair();
        await pair.SendAsync("NO");

        var read = Task.Run(() => ReadOneAsync(pair.Channel));
        await pair.WaitForSettleAsync();
        await pair.SendAsync("OP\r\n");

        Assert.Equal("NOOP", (await read.WaitAsync(Wire.Patience)).Line);
    }

    [Fact]
    public async Task Settling_that_ends_the_session_makes_the_read_come_back_woken_without_waiting()
    {
        await using var pair = new DownstreamPair { SettleResult = false };

        var read = await ReadOneAsync(pair.Channel).WaitAsync(Wire.Patience);

        Assert.Equal(CommandReadStatus.Woken, read.Status);
        Assert.True(pair.Channel.SettledOver);
        Assert.Equal(1, pair.Settles);
    }

    [Fact]
    public async Task Replies_written_while_input_is_buffered_leave_in_one_flush_before_the_wait()
    {
        await using var pair = new DownstreamPair();
        await pair.SendAsync("NOOP\r\nNOOP\r\n");

        await ReadOneAsync(pair.Channel);
        pair.Channel.Write("250 one\r\n"u8);
        await ReadOneAsync(pair.Channel);
        Assert.Equal(string.Empty, pair.TakeFlushed());

        pair.OnSettle = channel => channel.Write("250 two\r\n"u8);
        var read = Task.Run(() => ReadOneAsync(pair.Channel));
        await pair.WaitForSettleAsync();

        // The settle's reply joins the one before it; both are flushed before the channel waits.
        var flushed = await pair.PeerInput.ReadAsync().AsTask().WaitAsync(Wire.Patience);
        Assert.Equal("250 one\r\n250 two\r\n", Wire.Text(flushed.Buffer.ToArray()));
        pair.PeerInput.AdvanceTo(flushed.Buffer.End);
        Assert.False(read.IsCompleted);
        Assert.Equal("250 one\r\n250 two\r\n".Length, pair.Record.BytesToPeer);

        pair.ClosePeer();
        Assert.Equal(CommandReadStatus.Closed, (await read.WaitAsync(Wire.Patience)).Status);
    }

    [Fact]
    public async Task A_cancelled_pending_read_comes_back_woken_and_the_partial_input_stays()
    {
        await using var pair = new DownstreamPair();
        await pair.SendAsync("NO");

        var read = Task.Run(() => ReadOneAsync(pair.Channel));
        await pair.WaitForSettleAsync();
        pair.Channel.Input.CancelPendingRead();
        Assert.Equal(CommandReadStatus.Woken, (await read.WaitAsync(Wire.Patience)).Status);
        Assert.False(pair.Channel.SettledOver);

        await pair.SendAsync("OP\r\n");
        Assert.Equal("NOOP", (await ReadOneAsync(pair.Channel).WaitAsync(Wire.Patience)).Line);
    }

    [Fact]
    public async Task A_cancel_with_a_whole_command_buffered_comes_back_woken_and_the_command_is_read_next()
    {
        await using var pair = new DownstreamPair();
        await pair.SendAsync("NOOP\r\n");

        pair.Channel.Input.CancelPendingRead();

        Assert.Equal(CommandReadStatus.Woken, (await ReadOneAsync(pair.Channel).WaitAsync(Wire.Patience)).Status);
        Assert.Equal("NOOP", (await ReadOneAsync(pair.Channel).WaitAsync(Wire.Patience)).Line);
    }

    public static TheoryData<int> TooLongSplits() => SplitPoints(TooLongInput);

    private static readonly string TooLongInput = "MAIL FROM:<" + new string('x', 40) + ">\r\nNOOP\r\n";

    [Theory]
    [MemberData(nameof(TooLongSplits))]
    public async Task An_over_long_line_is_skipped_whole_and_the_next_command_reads_fine(int split)
    {
        await using var pair = new DownstreamPair(new ListenerLimits { MaxLineLength = 16, MaxAuthLineLength = 16 });

        var reads = await ReadSplitAsync(pair, TooLongInput, split, 2);

        Assert.Equal(CommandReadStatus.TooLong, reads[0].Status);
        Assert.Equal(new Read(CommandReadStatus.Command, "NOOP", false, false), reads[1]);
        Assert.Equal(1, pair.Record.Commands);
    }

    [Fact]
    public async Task A_line_of_exactly_the_limit_is_a_command()
    {
        await using var pair = new DownstreamPair(new ListenerLimits { MaxLineLength = 16, MaxAuthLineLength = 16 });
        var line = "NOOP " + new string('y', 11);
        await pair.SendAsync(line + "\r\n");

        Assert.Equal(line, (await ReadOneAsync(pair.Channel)).Line);
    }

    [Fact]
    public async Task Auth_with_an_initial_response_and_a_sasl_answer_may_use_the_longer_limit()
    {
        await using var pair = new DownstreamPair(new ListenerLimits { MaxLineLength = 16, MaxAuthLineLength = 64 });
        var auth = "AUTH PLAIN " + new string('A', 40);
        var answer = new string('B', 60);
        await pair.SendAsync(auth + "\r\n" + answer + "\r\n" + answer + "\r\n");

        Assert.Equal(auth, (await ReadOneAsync(pair.Channel)).Line);
        Assert.Equal(answer, (await ReadOneAsync(pair.Channel, sasl: true)).Line);
        Assert.Equal(CommandReadStatus.TooLong, (await ReadOneAsync(pair.Channel)).Status);

        // The SASL answer is not a command.
        Assert.Equal(1, pair.Record.Commands);
    }

    [Theory]
    [InlineData("NOOP\nQUIT\r\n")]
    [InlineData("NO\rOP\r\nQUIT\r\n")]
    [InlineData("\nQUIT\r\n")]
    public async Task A_bare_line_ending_drops_the_line_and_the_next_command_reads_fine(string input)
    {
        await using var pair = new DownstreamPair();
        await pair.SendAsync(input);

        Assert.Equal(CommandReadStatus.BareLineEnding, (await ReadOneAsync(pair.Channel)).Status);
        Assert.Equal("QUIT", (await ReadOneAsync(pair.Channel)).Line);
        Assert.Equal(1, pair.Record.Commands);
    }

    public static TheoryData<int> CommandPrefixes() => SplitPoints("EHLO a\r");

    [Theory]
    [MemberData(nameof(CommandPrefixes))]
    public async Task The_peer_leaving_is_closed_and_mid_command_exactly_when_part_of_a_line_came(int prefix)
    {
        await using var pair = new DownstreamPair();
        await pair.SendAsync("EHLO a\r\n"[..prefix]);
        pair.ClosePeer();

        var read = await ReadOneAsync(pair.Channel).WaitAsync(Wire.Patience);

        Assert.Equal(new Read(CommandReadStatus.Closed, string.Empty, false, prefix > 0), read);
    }

    [Fact]
    public async Task The_peer_leaving_after_a_whole_line_is_closed_between_commands()
    {
        await using var pair = new DownstreamPair();
        await pair.SendAsync("QUIT\r\n");
        pair.ClosePeer();

        Assert.Equal("QUIT", (await ReadOneAsync(pair.Channel)).Line);
        Assert.Equal(new Read(CommandReadStatus.Closed, string.Empty, false, false), await ReadOneAsync(pair.Channel).WaitAsync(Wire.Patience));
    }

    [Fact]
    public async Task The_peer_leaving_inside_an_over_long_line_is_closed_mid_command()
    {
        await using var pair = new DownstreamPair(new ListenerLimits { MaxLineLength = 16, MaxAuthLineLength = 16 });
        await pair.SendAsync(new string('x', 100));
        pair.ClosePeer();

        Assert.Equal(new Read(CommandReadStatus.Closed, string.Empty, false, true), await ReadOneAsync(pair.Channel).WaitAsync(Wire.Patience));
    }

    [Fact]
    public async Task Flushing_to_a_peer_that_stopped_reading_throws_IOException()
    {
        await using var pair = new DownstreamPair();
        pair.PeerInput.Complete();

        pair.Channel.Write("250 ok\r\n"u8);

        await Assert.ThrowsAsync<IOException>(async () => await pair.Channel.FlushAsync());
    }

    [Fact]
    public async Task Flushing_with_nothing_written_does_nothing_even_when_the_peer_stopped_reading()
    {
        await using var pair = new DownstreamPair();
        pair.PeerInput.Complete();

        await pair.Channel.FlushAsync();
    }

    [Fact]
    public async Task StartTls_refusals_come_in_order_certificate_then_tls_then_transaction_then_auth()
    {
        await using var pair = new DownstreamPair();
        var certificates = new ServerCertificateProvider(TestCertificate.Instance.CertificatePath, TestCertificate.Instance.KeyPath);

        Assert.Equal(Wire.Text(ProxyReplies.StartTlsUnavailable), Wire.Text(pair.Channel.StartTlsRefusal(null, true, true)));
        Assert.StartsWith("454 ", Wire.Text(pair.Channel.StartTlsRefusal(null, false, false)), StringComparison.Ordinal);
        Assert.Equal("503 5.5.1 Error: MAIL transaction in progress\r\n", Wire.Text(pair.Channel.StartTlsRefusal(certificates, true, true)));
        Assert.Equal("503 5.5.1 Error: STARTTLS after AUTH is not supported\r\n", Wire.Text(pair.Channel.StartTlsRefusal(certificates, false, true)));
        Assert.True(pair.Channel.StartTlsRefusal(certificates, false, false).IsEmpty);

        // Once TLS is up, that comes before the transaction and AUTH (but after a missing certificate).
        var client = new SslStream(new PipeStream(pair.PeerInput, pair.PeerOutput), leaveInnerStreamOpen: false);
        var clientHandshake = client.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = TestCertificate.HostName,
            RemoteCertificateValidationCallback = (_, certificate, _, _) =>
                string.Equals(certificate?.GetCertHashString(), TestCertificate.Instance.Thumbprint, StringComparison.OrdinalIgnoreCase),
        });
        Assert.True(await pair.Channel.HandshakeAsync(certificates, "implicit").AsTask().WaitAsync(Wire.Patience));
        await clientHandshake.WaitAsync(Wire.Patience);

        Assert.NotNull(pair.Channel.Tls);
        Assert.StartsWith("454 ", Wire.Text(pair.Channel.StartTlsRefusal(null, true, true)), StringComparison.Ordinal);
        Assert.Equal("554 5.5.1 Error: TLS already active\r\n", Wire.Text(pair.Channel.StartTlsRefusal(certificates, true, true)));
        Assert.Equal("554 5.5.1 Error: TLS already active\r\n", Wire.Text(pair.Channel.StartTlsRefusal(certificates, false, false)));
        await client.DisposeAsync();
    }
    private static SslClientAuthenticationOptions ClientOptions() => new()
    {
        TargetHost = TestCertificate.HostName,
        RemoteCertificateValidationCallback = (_, certificate, _, _) =>
            string.Equals(certificate?.GetCertHashString(), TestCertificate.Instance.Thumbprint, StringComparison.OrdinalIgnoreCase),
    };

    [Fact]
    public async Task StartTls_discards_what_was_pipelined_behind_it_and_reads_only_what_came_over_tls()
    {
        await using var pair = new DownstreamPair();
        var certificates = new ServerCertificateProvider(TestCertificate.Instance.CertificatePath, TestCertificate.Instance.KeyPath);
        await pair.SendAsync("STARTTLS\r\nMAIL FROM:<injected>\r\n");
        Assert.Equal("STARTTLS", (await ReadOneAsync(pair.Channel)).Line);

        var starting = Task.Run(() => pair.Channel.StartTlsAsync(certificates).AsTask());
        var goAhead = await pair.PeerInput.ReadAsync().AsTask().WaitAsync(Wire.Patience);
        Assert.Equal("220 2.0.0 Ready to start TLS\r\n", Wire.Text(goAhead.Buffer.ToArray()));
        pair.PeerInput.AdvanceTo(goAhead.Buffer.End);
        await using var client = new SslStream(new PipeStream(pair.PeerInput, pair.PeerOutput), leaveInnerStreamOpen: false);
        await client.AuthenticateAsClientAsync(ClientOptions()).WaitAsync(Wire.Patience);
        Assert.True(await starting.WaitAsync(Wire.Patience));

        Assert.Contains(pair.Logger.Lines, line => line.Contains("22 octets of cleartext after STARTTLS discarded", StringComparison.Ordinal));
        await client.WriteAsync(Wire.Bytes("NOOP\r\n"));
        await client.FlushAsync();
        Assert.Equal("NOOP", (await ReadOneAsync(pair.Channel).WaitAsync(Wire.Patience)).Line);
        Assert.StartsWith(" X=TLS", pair.Record.PeerTls, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_failed_handshake_is_false_and_ends_the_session_as_tls_handshake_failed()
    {
        await using var pair = new DownstreamPair();
        var certificates = new ServerCertificateProvider(TestCertificate.Instance.CertificatePath, TestCertificate.Instance.KeyPath);
        await pair.SendAsync("this is no client hello\r\n");
        pair.ClosePeer();

        Assert.False(await pair.Channel.HandshakeAsync(certificates, "implicit").AsTask().WaitAsync(Wire.Patience));
        Assert.Equal(Sessions.Lifetime.SessionEnd.TlsHandshakeFailed, pair.Record.End);
        Assert.Null(pair.Channel.Tls);
    }
    [Fact]
    public async Task Replies_held_unflushed_never_pass_the_limit_while_input_stays_buffered()
    {
        // Issue 11, item 2: a peer that pipelines never lets the channel wait, so the flush before the wait never came.
        var limits = new ListenerLimits { MaxUnflushedReplyBytes = ListenerLimits.MinUnflushedReplyBytes };
        await using var pair = new DownstreamPair(limits);
        const int Commands = 5000;
        await pair.SendAsync(string.Concat(Enumerable.Repeat("NOOP\r\n", Commands)));
        var reply = Wire.Bytes("250 2.0.0 Ok\r\n");

        var most = await Task.Run(async () =>
        {
            long most = 0;
            for (var i = 0; i < Commands; i++)
            {
                var read = await pair.Channel.ReadCommandAsync();
                Assert.Equal(CommandReadStatus.Command, read.Status);
                pair.Channel.Consume();
                pair.Channel.Write(reply);
                most = Math.Max(most, pair.Channel.Output.UnflushedBytes);
            }

            return most;
        }).WaitAsync(Wire.Patience);

        Assert.InRange(most, 0, limits.MaxUnflushedReplyBytes + reply.Length);
        Assert.Equal(0, pair.Settles);
        Assert.NotEmpty(pair.TakeFlushed());
    }

    [Fact]
    public async Task A_peer_that_does_not_read_stops_its_input_being_taken_and_times_out()
    {
        var limits = new ListenerLimits { MaxUnflushedReplyBytes = ListenerLimits.MinUnflushedReplyBytes };
        var timeouts = new SessionTimeouts { Command = TimeSpan.FromMilliseconds(300) };
        const int Paused = 4096;
        await using var pair = new DownstreamPair(limits, timeouts,
            toPeer: new System.IO.Pipelines.PipeOptions(pauseWriterThreshold: Paused, resumeWriterThreshold: Paused / 2));
        const int Commands = 5000;
        await pair.SendAsync(string.Concat(Enumerable.Repeat("NOOP\r\n", Commands)));
        var reply = Wire.Bytes("250 2.0.0 Ok\r\n");

        var taken = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Task.Run(async () =>
        {
            while (true)
            {
                var read = await pair.Channel.ReadCommandAsync();
                Assert.Equal(CommandReadStatus.Command, read.Status);
                pair.Channel.Consume();
                pair.Channel.Write(reply);
                taken++;
            }
        }).WaitAsync(Wire.Patience));

        // The pipe to the peer full, its commands wait behind their replies: far fewer than were sent were taken.
        Assert.InRange(taken, 1, ((Paused + limits.MaxUnflushedReplyBytes) / reply.Length) + 2);
        Assert.Equal(0, pair.Settles);
    }
}
