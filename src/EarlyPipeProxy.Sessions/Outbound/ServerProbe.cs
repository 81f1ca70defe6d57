using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Text;
using EarlyPipeProxy.Protocol.Capabilities;
using EarlyPipeProxy.Protocol.Commands;
using EarlyPipeProxy.Protocol.Replies;

namespace EarlyPipeProxy.Sessions.Outbound;

/// <summary>
/// `earlypipe check`: one polite lockstep session (greeting, EHLO, QUIT) that reports what the server offers, the
/// same facts the outbound proxy's cache would learn from it.
/// </summary>
public static class ServerProbe
{
    private const int MaxReplyLine = 4096;

    public static async Task<ServerProbeResult> ProbeAsync(IPEndPoint endPoint, string heloName, CancellationToken cancellationToken)
    {
        // Written before connecting: a name that is no EHLO argument is refused (ArgumentException) before any
        // connection is made.
        var ehlo = new ArrayBufferWriter<byte>();
        SmtpCommandWriter.WriteEhlo(ehlo, heloName);

        var started = Stopwatch.GetTimestamp();
        using var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(endPoint, cancellationToken);
        var connected = Stopwatch.GetElapsedTime(started);
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        var reader = PipeReader.Create(stream);
        var writer = PipeWriter.Create(stream);

        var (bannerCode, bannerRaw) = await ReadReplyAsync(reader, cancellationToken);
        var bannerTime = Stopwatch.GetElapsedTime(started);
        if (bannerCode != ReplyCode.ServiceReady)
        {
            return new ServerProbeResult(bannerCode, Text(bannerRaw), 0, null, null, connected, bannerTime, TimeSpan.Zero);
        }

        await writer.WriteAsync(ehlo.WrittenMemory, cancellationToken);
        var ehloSent = Stopwatch.GetTimestamp();
        var (ehloCode, ehloRaw) = await ReadReplyAsync(reader, cancellationToken);
        var ehloTime = Stopwatch.GetElapsedTime(ehloSent);
        var parsed = EhloCapabilities.TryParse(new ReadOnlySequence<byte>(ehloRaw), out var capabilities);
        var keyword = parsed && EarlyPipeKeywords.OffersEarlyPipelining(capabilities!) ? EarlyPipeKeywords.FindKeyword(capabilities!) : null;

        SmtpCommandWriter.WriteQuit(writer);
        await writer.FlushAsync(cancellationToken);
        return new ServerProbeResult(bannerCode, Text(bannerRaw), ehloCode, capabilities, keyword, connected, bannerTime, ehloTime);
    }

    private static async Task<(int Code, byte[] Raw)> ReadReplyAsync(PipeReader reader, CancellationToken cancellationToken)
    {
        while (true)
        {
            var result = await reader.ReadAsync(cancellationToken);
            var buffer = result.Buffer;
            var sequenceReader = new SequenceReader<byte>(buffer);
            var status = SmtpReplyReader.TryReadReply(ref sequenceReader, MaxReplyLine, out var reply);
            if (status == ReplyReadStatus.Complete)
            {
                var raw = reply.Raw.ToArray();
                reader.AdvanceTo(sequenceReader.Position);
                return (reply.Code, raw);
            }

            if (status != ReplyReadStatus.Incomplete)
            {
                throw new InvalidDataException("the server sent a malformed reply");
            }

            if (result.IsCompleted)
            {
                throw new IOException("the server closed the connection");
            }

            reader.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    private static string Text(byte[] raw) => Encoding.Latin1.GetString(raw).TrimEnd('\r', '\n');
}
