using System.Buffers;

namespace EarlyPipeProxy.Sessions.Messages;

/// <summary>Where <see cref="MessageBodyReader"/> puts a message body: relayed as it is, turned into BDAT chunks, or dropped.</summary>
public interface IMessageBodySink
{
    /// <summary>Body octets as the peer sent them (dot-stuffed, CRLF line ends); more follow.</summary>
    ValueTask WriteAsync(ReadOnlySequence<byte> body);

    /// <summary>The last body octets, ending with the terminator's "CRLF.CRLF".</summary>
    ValueTask EndAsync(ReadOnlySequence<byte> bodyAndTerminator);

    /// <summary>The body was refused (SMTP smuggling): the upstream must never see an end of data for it.</summary>
    ValueTask AbandonAsync();
}
