using System.Text;
using CsCheck;

namespace EarlyPipeProxy.Protocol.Tests.Properties;

/// <summary>
/// Generators biased toward what the parsers decide on: CR, LF, ".", NUL, whitespace, line ends and end-of-data,
/// lines longer than the limits, and well-formed commands and replies among arbitrary bytes.
/// </summary>
internal static class ProtocolGen
{
    public static readonly Gen<byte[]> Special = Gen.OneOf(
        "\r", "\n", ".", "\0", " ", "\t", "-", "\r\n", ".\r\n", "\r\n.\r\n", "\r\r\n", "\n.", ".\r", "..", "\r\n.", "\x7f", "\v")
        .Select(Latin1);

    public static readonly Gen<byte[]> Text = Gen.Byte[0x20, 0x7e].Array[1, 12];

    public static readonly Gen<byte[]> LongRun = Gen.Int[40, 1100].Select(n => Latin1(new string('a', n)));

    /// <summary>A BDAT size as a client might write it: small (so the chunk is in the input), padded, huge, or overflowing.</summary>
    public static readonly Gen<string> BdatSize = Gen.Frequency(
        W(8, Gen.Int[0, 40].Select(n => n.ToString())),
        W(1, Gen.Int[0, 40].Select(n => "000" + n)),
        W(1, Gen.Long[0, long.MaxValue].Select(n => n.ToString())),
        W(1, Gen.OneOf("9223372036854775808", "99999999999999999999", "-1", "+5", "1.5", "", "0x10", "1 2")));

    public static readonly Gen<string> Command = Gen.Frequency(
        W(4, Gen.OneOf(
            "EHLO client.example", "HELO x", "MAIL FROM:<a@b.example>", "RCPT TO:<c@d.example>", "DATA", "NOOP", "QUIT",
            "RSET", "STARTTLS", " xclient ADDR=192.0.2.1", "XFORWARD NAME=x", "data ", "DATAX", "AUTH LOGIN", "NOOP\0x")),
        W(4, Gen.Select(Gen.OneOf("BDAT", "bdat", " BdAt"), Gen.OneOf(" ", "\t", "  "), BdatSize, Gen.OneOf("", " LAST", " last", "\tLAST ", " LASTX", " LAST x"))
            .Select((verb, space, size, last) => verb + space + size + last)),
        W(1, Gen.Int[0, 13000].Select(n => "AUTH PLAIN " + new string('Q', n))));

    public static readonly Gen<string> ReplyLine = Gen.Select(
        Gen.OneOf("220", "250", "251", "354", "421", "550", "25", "2500", "abc"),
        Gen.OneOf("-", " ", "", "x"),
        Gen.OneOf("", "ok", "5.7.1 denied", "2.0.0 Ok: queued", "PIPELINING", "SIZE 10240000", "4.3.0", new string('t', 300)))
        .Select((code, separator, text) => code + separator + text);

    public static readonly Gen<string> LineEnd = Gen.Frequency(W(8, Gen.Const("\r\n")), W(1, Gen.OneOf("\n", "\r", "", "\r\r\n")));

    public static readonly Gen<byte[]> Token = Gen.Frequency(
        W(6, Text),
        W(4, Special),
        W(1, Gen.Byte.Array[1, 4]),
        W(3, Gen.Select(Command, LineEnd).Select((c, e) => Latin1(c + e))),
        W(3, Gen.Select(ReplyLine, LineEnd).Select((r, e) => Latin1(r + e))),
        W(1, LongRun));

    /// <summary>Arbitrary input built from <see cref="Token"/>s.</summary>
    public static readonly Gen<byte[]> Bytes = Token.Array[0, 30].Select(Concat);

    /// <summary><paramref name="data"/> with a way to split it: up to 12 arrivals and 12 extra cuts, anywhere.</summary>
    public static Gen<SplitInput> Split(Gen<byte[]> data)
        => from bytes in data
           from arrivals in Gen.Int[0, bytes.Length].Array[0, 12]
           from cuts in Gen.Int[0, bytes.Length].Array[0, 12]
           select new SplitInput(bytes, arrivals, cuts);

    /// <summary>A generator with its weight, typed as Frequency wants it.</summary>
    public static (int, IGen<T>) W<T>(int weight, Gen<T> gen) => (weight, gen);

    public static byte[] Latin1(string text) => Encoding.Latin1.GetBytes(text);

    public static byte[] Concat(IEnumerable<byte[]> parts) => [.. parts.SelectMany(p => p)];
}
