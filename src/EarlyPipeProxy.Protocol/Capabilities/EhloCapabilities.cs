using System.Buffers;

namespace EarlyPipeProxy.Protocol.Capabilities;

/// <summary>
/// The model of an EHLO reply (RFC 5321 §4.1.1.1): the greeting line's text and the extension keywords in order.
/// Parsed from, and formatted back to, the wire form. Keyword matching is ASCII case-insensitive. Parsed once per
/// session, so strings are fine here.
/// </summary>
public sealed class EhloCapabilities
{
    public EhloCapabilities(string greeting, IEnumerable<EhloKeyword> keywords) => throw new NotImplementedException();

    /// <summary>Text of the first line after "250-"/"250 " (e.g. "mx.example.org Hello client [192.0.2.1]").</summary>
    public string Greeting => throw new NotImplementedException();

    public IReadOnlyList<EhloKeyword> Keywords => throw new NotImplementedException();

    /// <summary>Parses a complete raw 250 reply (all lines with CRLF). False when the code is not 250 or a line is malformed.</summary>
    public static bool TryParse(in ReadOnlySequence<byte> rawReply, out EhloCapabilities? capabilities) => throw new NotImplementedException();

    public bool Contains(string keyword) => throw new NotImplementedException();

    /// <summary>The parameters of <paramref name="keyword"/> ("" when it has none), or null when absent.</summary>
    public string? GetParameters(string keyword) => throw new NotImplementedException();

    /// <summary>Removes the keyword; true when it was present.</summary>
    public bool Remove(string keyword) => throw new NotImplementedException();

    /// <summary>
    /// Adds the keyword unless present. It goes right after <paramref name="after"/> when that keyword is present
    /// (Exim lists PIPECONNECT right after PIPELINING), else at the end.
    /// </summary>
    public void Add(string keyword, string parameters = "", string? after = null) => throw new NotImplementedException();

    /// <summary>Writes "250-greeting", "250-KEYWORD params"…, the last line with "250 ", every line ending in CRLF.</summary>
    public void WriteTo(IBufferWriter<byte> writer) => throw new NotImplementedException();
}
