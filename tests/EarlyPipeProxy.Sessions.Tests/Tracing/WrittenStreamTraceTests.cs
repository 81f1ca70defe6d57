using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Text;
using EarlyPipeProxy.Protocol.ClientIdentity;
using EarlyPipeProxy.Sessions.Configuration;
using EarlyPipeProxy.Sessions.Telemetry;
using EarlyPipeProxy.Sessions.Tests.TestSupport;
using EarlyPipeProxy.Sessions.Tracing;

namespace EarlyPipeProxy.Sessions.Tests.Tracing;

/// <summary>
/// What the trace makes of the octets a session writes, however they are cut into writes: lines bounded and escaped,
/// bodies and chunks counted, binary headers passed over; and every octet still reaches the wire unchanged.
/// </summary>
public sealed class WrittenStreamTraceTests
{
    private const string Prefix = "Information: trace H=[192.0.2.1]:40000 I=test ";

    private readonly ListLogger _log = new();
    private readonly Pipe _wire = new();
    private readonly SessionTrace _trace;

    public WrittenStreamTraceTests()
    {
        var record = new SessionRecord(Direction.Inbound, "test", new IPEndPoint(IPAddress.Parse("192.0.2.1"), 40000), new IPEndPoint(IPAddress.Loopback, 25), _log, null);
        _trace = SessionTrace.Start(new TraceOptions { Clients = ["192.0.2.0/24"] }, record) ?? throw new InvalidOperationException("not traced");
    }

    [Fact]
    public async Task ToUpstream_CommandsSplitAcrossWrites_TracedAsWholeLinesAndWrittenUnchanged()
    {
        var output = _trace.ToUpstream(_wire.Writer);

        await WriteAsync(output, "MAIL FR", "OM:<a@b>\r", "\nRCPT TO:<c@d>\r\nDA", "TA\r\n");

        Assert.Equal(["P>B MAIL FROM:<a@b>", "P>B RCPT TO:<c@d>", "P>B DATA"], Traced());
        Assert.Equal("MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n", await WireTextAsync());
    }

    [Fact]
    public async Task ToUpstream_BodyAfterThe354_CountedUpToItsEndNeverShown()
    {
        var output = _trace.ToUpstream(_wire.Writer);
        await WriteAsync(output, "DATA\r\n");
        _trace.FromUpstream(Reply("354 go ahead\r\n"));

        // A "." line inside the body is dot-stuffed; the terminator is split across writes.
        await WriteAsync(output, "secret\r\n..QUIT\r\n", "\r", "\n.", "\r", "\nQUIT\r\n");

        Assert.Equal(["P>B DATA", "B>P 354 go ahead", "P>B (message data: 21 octets)", "P>B QUIT"], Traced());
        Assert.DoesNotContain(_log.Lines, l => l.Contains("secret", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ToUpstream_EmptyBody_EndsAtOnce()
    {
        var output = _trace.ToUpstream(_wire.Writer);
        _trace.FromUpstream(Reply("354 go ahead\r\n"));

        await WriteAsync(output, ".\r\nRSET\r\n");

        Assert.Equal(["B>P 354 go ahead", "P>B (message data: 3 octets)", "P>B RSET"], Traced());
    }

    [Fact]
    public async Task ToUpstream_BdatChunks_PassedOverByTheirSize()
    {
        var output = _trace.ToUpstream(_wire.Writer);

        await WriteAsync(output, "BDAT 8\r\nsecr", "et\r\nBDAT 4 LAST\r\nQUITNOOP\r\n");

        Assert.Equal(["P>B BDAT 8", "P>B BDAT 4 LAST", "P>B NOOP"], Traced());
    }

    [Fact]
    public async Task ToUpstream_SaslAnswerAfterA334_MaskedAndAuthInitialResponseMasked()
    {
        var output = _trace.ToUpstream(_wire.Writer);

        await WriteAsync(output, "AUTH PLAIN AGEAYg==\r\nAUTH LOGIN\r\n");
        _trace.FromUpstream(Reply("334 VXNlcm5hbWU6\r\n"));
        await WriteAsync(output, "dXNlcg==\r\n");
        _trace.FromUpstream(Reply("334 UGFzc3dvcmQ6\r\n"));
        await WriteAsync(output, "*\r\n");
        _trace.FromUpstream(Reply("501 5.7.0 cancelled\r\n"));
        await WriteAsync(output, "NOOP\r\n");

        Assert.Equal(
            ["P>B AUTH PLAIN ****", "P>B AUTH LOGIN", "B>P 334 VXNlcm5hbWU6", "P>B ****", "B>P 334 UGFzc3dvcmQ6", "P>B *", "B>P 501 5.7.0 cancelled", "P>B NOOP"],
            Traced());
    }

    [Fact]
    public async Task ToUpstream_ProxyV2Header_TracedAsItsSizeThenTheCommandsAfterIt()
    {
        var output = _trace.ToUpstream(_wire.Writer);
        var header = new ArrayBufferWriter<byte>();
        ProxyProtocolHeader.WriteV2(header, new IPEndPoint(IPAddress.Parse("192.0.2.1"), 40000), new IPEndPoint(IPAddress.Loopback, 25));

        output.Write(header.WrittenSpan);
        await WriteAsync(output, "EHLO proxy\r\n");

        Assert.Equal([$"P>B (PROXY protocol v2 header: {header.WrittenCount} octets)", "P>B EHLO proxy"], Traced());
    }

    [Fact]
    public async Task ToPeer_HostileAndLongLines_EscapedAndBounded()
    {
        var output = _trace.ToPeer(_wire.Writer);
        var longText = new string('y', TraceText.MaxLineOctets + 100);

        await WriteAsync(output, "250-evil \u001b[31m\"quoted\"\\ \u0000\r\n250 " + longText + "\r\n");

        var traced = Traced();
        Assert.Equal("P>C 250-evil \\x1b[31m\\\"quoted\\\"\\\\ \\x00", traced[0]);
        Assert.StartsWith("P>C 250 yyyy", traced[1], StringComparison.Ordinal);
        Assert.True(traced[1].Length < TraceText.MaxLineOctets + 40, traced[1]);
        Assert.EndsWith("octets)", traced[1], StringComparison.Ordinal);
        Assert.Equal(2, traced.Length);
    }

    [Fact]
    public void Start_ClientNotOnTheListOrBadList_NoTrace()
    {
        var record = new SessionRecord(Direction.Inbound, "test", new IPEndPoint(IPAddress.Parse("198.51.100.1"), 1), new IPEndPoint(IPAddress.Loopback, 25), _log, null);

        Assert.Null(SessionTrace.Start(new TraceOptions { Clients = ["192.0.2.0/24"] }, record));
        Assert.Null(SessionTrace.Start(new TraceOptions(), record));
        Assert.Null(SessionTrace.Start(new TraceOptions { Clients = ["not-an-address"] }, record));
        Assert.NotNull(SessionTrace.Start(new TraceOptions { Clients = ["::ffff:0:0/96", "198.51.100.1"] }, record));
    }

    [Fact]
    public void Validate_BadEntry_NamesTheListener()
    {
        var ex = Assert.Throws<FormatException>(() => new TraceOptions { Clients = ["10.0.0.0/8", "bogus"] }.Validate("Inbound listener 'smtp'"));

        Assert.Contains("Inbound listener 'smtp': Trace:Clients", ex.Message, StringComparison.Ordinal);
    }

    private static Protocol.Replies.SmtpReply Reply(string text) => new(int.Parse(text[..3], System.Globalization.CultureInfo.InvariantCulture),
        new ReadOnlySequence<byte>(Encoding.Latin1.GetBytes(text)), 1);

    private static async Task WriteAsync(PipeWriter output, params string[] pieces)
    {
        foreach (var piece in pieces)
        {
            output.Write(Encoding.Latin1.GetBytes(piece));
            await output.FlushAsync();
        }
    }

    private async Task<string> WireTextAsync()
    {
        await _wire.Writer.CompleteAsync();
        var result = await _wire.Reader.ReadAsync();
        var text = Encoding.Latin1.GetString(result.Buffer.ToArray());
        _wire.Reader.AdvanceTo(result.Buffer.End);
        return text;
    }

    private string[] Traced() => [.. _log.Lines.Where(l => l.StartsWith(Prefix, StringComparison.Ordinal)).Select(l => l[Prefix.Length..])];
}
