using System.Buffers;
using System.Collections.ObjectModel;
using System.Text;
using EarlyPipeProxy.Protocol.Lines;
using EarlyPipeProxy.Protocol.Replies;

namespace EarlyPipeProxy.Protocol.Capabilities;

/// <summary>
/// The model of an EHLO reply (RFC 5321 §4.1.1.1): the greeting line's text and the extension keywords in order.
/// Parsed from, and formatted back to, the wire form. Keyword matching is ASCII case-insensitive. Parsed once per
/// session, so strings are fine here.
/// </summary>
public sealed class EhloCapabilities
{
    // Latin-1 maps every byte to one char and back, so whatever the server sent is written back unchanged.
    private static readonly Encoding WireEncoding = Encoding.Latin1;

    private readonly List<EhloKeyword> _keywords;
    private readonly ReadOnlyCollection<EhloKeyword> _readOnlyKeywords;

    public EhloCapabilities(string greeting, IEnumerable<EhloKeyword> keywords)
    {
        ArgumentNullException.ThrowIfNull(greeting);
        ArgumentNullException.ThrowIfNull(keywords);

        Greeting = greeting;
        _keywords = [.. keywords];
        _readOnlyKeywords = _keywords.AsReadOnly();
    }

    /// <summary>Text of the first line after "250-"/"250 " (e.g. "mx.example.org Hello client [192.0.2.1]").</summary>
    public string Greeting { get; }

    public IReadOnlyList<EhloKeyword> Keywords => _readOnlyKeywords;

    /// <summary>Parses a complete raw 250 reply (all lines with CRLF). False when the code is not 250 or a line is malformed.</summary>
    public static bool TryParse(in ReadOnlySequence<byte> rawReply, out EhloCapabilities? capabilities)
    {
        capabilities = null;

        // The reply reader already enforces the framing (same code, "ddd-"/"ddd " separators, CRLF everywhere);
        // the line length is not ours to limit here, the caller did that when it read the reply.
        var reader = new SequenceReader<byte>(rawReply);
        if (SmtpReplyReader.TryReadReply(ref reader, int.MaxValue - 2, out var reply, maxLines: int.MaxValue) != ReplyReadStatus.Complete
            || reply.Code != 250
            || !reader.End)
        {
            return false;
        }

        var lines = new SequenceReader<byte>(reply.Raw);
        var greeting = string.Empty;
        var keywords = new List<EhloKeyword>(reply.LineCount);
        for (var i = 0; i < reply.LineCount; i++)
        {
            SmtpLineReader.TryReadLine(ref lines, int.MaxValue - 2, out var line);
            var text = line.Length > 4 ? WireEncoding.GetString(line.Slice(4)) : string.Empty;
            if (i == 0)
            {
                greeting = text;
                continue;
            }

            var space = text.IndexOf(' ');
            var name = space < 0 ? text : text[..space];
            if (name.Length == 0)
            {
                // "250-" or "250- x": no keyword to offer, nothing a client could use.
                continue;
            }

            var parameters = space < 0 ? string.Empty : text[(space + 1)..].TrimStart(' ');
            keywords.Add(new EhloKeyword(name, parameters));
        }

        capabilities = new EhloCapabilities(greeting, keywords);
        return true;
    }

    /// <summary>
    /// Parses a reply kept as its lines (each as received, code and separator included, CRLF not): how a cached reply
    /// is stored. False when a line holds a CR or LF or the lines are not a well-formed 250 reply.
    /// </summary>
    public static bool TryParse(IReadOnlyList<string> replyLines, out EhloCapabilities? capabilities)
    {
        ArgumentNullException.ThrowIfNull(replyLines);
        capabilities = null;
        if (replyLines.Count == 0)
        {
            return false;
        }

        var raw = new StringBuilder();
        foreach (var line in replyLines)
        {
            if (line.Contains('\r') || line.Contains('\n'))
            {
                return false;
            }

            raw.Append(line).Append("\r\n");
        }

        return TryParse(new ReadOnlySequence<byte>(WireEncoding.GetBytes(raw.ToString())), out capabilities);
    }

    /// <summary>The lines of a raw reply as received (code and separator included, CRLF not), for keeping it as text.</summary>
    public static string[] SplitLines(in ReadOnlySequence<byte> rawReply)
    {
        var text = WireEncoding.GetString(rawReply);
        if (text.EndsWith("\r\n", StringComparison.Ordinal))
        {
            text = text[..^2];
        }

        return text.Split("\r\n");
    }

    /// <summary>
    /// A new, independent model with the same greeting and keywords: changing either leaves the other as it was. For a
    /// model kept for reuse (a cached reply) that each session then edits for its own peer.
    /// </summary>
    public EhloCapabilities Clone() => new(Greeting, _keywords);

    public bool Contains(string keyword) => IndexOf(keyword) >= 0;

    /// <summary>The parameters of <paramref name="keyword"/> ("" when it has none), or null when absent.</summary>
    public string? GetParameters(string keyword)
    {
        var index = IndexOf(keyword);
        return index < 0 ? null : _keywords[index].Parameters;
    }

    /// <summary>Removes the keyword; true when it was present.</summary>
    public bool Remove(string keyword)
    {
        // A server may list a keyword twice; removing means none is left for the client to see.
        return _keywords.RemoveAll(k => Ascii.EqualsIgnoreCase(k.Name, keyword)) > 0;
    }

    /// <summary>
    /// Adds the keyword unless present. It goes right after <paramref name="after"/> when that keyword is present
    /// (Exim lists PIPECONNECT right after PIPELINING), else at the end.
    /// </summary>
    public void Add(string keyword, string parameters = "", string? after = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(keyword);
        ArgumentNullException.ThrowIfNull(parameters);

        if (Contains(keyword))
        {
            return;
        }

        var anchor = after is null ? -1 : IndexOf(after);
        var entry = new EhloKeyword(keyword, parameters);
        if (anchor < 0)
        {
            _keywords.Add(entry);
        }
        else
        {
            _keywords.Insert(anchor + 1, entry);
        }
    }

    /// <summary>Writes "250-greeting", "250-KEYWORD params"…, the last line with "250 ", every line ending in CRLF.</summary>
    public void WriteTo(IBufferWriter<byte> writer)
    {
        ArgumentNullException.ThrowIfNull(writer);

        WriteLine(writer, Greeting, isLast: _keywords.Count == 0);
        for (var i = 0; i < _keywords.Count; i++)
        {
            WriteLine(writer, _keywords[i].ToString(), isLast: i == _keywords.Count - 1);
        }
    }

    private static void WriteLine(IBufferWriter<byte> writer, string text, bool isLast)
    {
        if (isLast && text.Length == 0)
        {
            // RFC 5321 reply-line: the SP is only there to introduce text.
            writer.Write("250\r\n"u8);
            return;
        }

        writer.Write(isLast ? "250 "u8 : "250-"u8);
        WireEncoding.GetBytes(text, writer);
        writer.Write("\r\n"u8);
    }

    private int IndexOf(string keyword)
    {
        ArgumentNullException.ThrowIfNull(keyword);
        return _keywords.FindIndex(k => Ascii.EqualsIgnoreCase(k.Name, keyword));
    }
}
