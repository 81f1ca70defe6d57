using System.Buffers;
using System.Text;
using EarlyPipeProxy.Sessions.Messages;

namespace EarlyPipeProxy.Sessions.Tests.TestSupport;

/// <summary>A body sink that keeps what it was given, and notices anything given after it abandoned the message.</summary>
internal sealed class RecordingBodySink : IMessageBodySink
{
    private readonly StringBuilder _received = new();

    /// <summary>Everything written and ended, in order.</summary>
    public string Received => _received.ToString();

    /// <summary>The last piece, or null when the body never ended.</summary>
    public string? Ended { get; private set; }

    public int Abandons { get; private set; }

    public bool ReceivedAfterAbandon { get; private set; }

    public ValueTask WriteAsync(ReadOnlySequence<byte> body)
    {
        Assert.False(body.IsEmpty, "an empty write");
        Take(body);
        return ValueTask.CompletedTask;
    }

    public ValueTask EndAsync(ReadOnlySequence<byte> bodyAndTerminator)
    {
        Assert.Null(Ended);
        Ended = Take(bodyAndTerminator);
        return ValueTask.CompletedTask;
    }

    public ValueTask AbandonAsync()
    {
        Abandons++;
        return ValueTask.CompletedTask;
    }

    private string Take(in ReadOnlySequence<byte> bytes)
    {
        ReceivedAfterAbandon |= Abandons > 0;
        var text = Wire.Text(bytes.ToArray());
        _received.Append(text);
        return text;
    }
}
