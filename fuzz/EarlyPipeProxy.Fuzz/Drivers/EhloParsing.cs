using System.Buffers;
using EarlyPipeProxy.Protocol.Capabilities;

namespace EarlyPipeProxy.Fuzz.Drivers;

/// <summary>
/// EhloCapabilities on a 250 reply as the reply reader framed it: it parses, from segments as from one copy and from
/// the lines a cache keeps, and what it writes back parses to the same model.
/// </summary>
internal static class EhloParsing
{
    public static string Describe(in ReadOnlySequence<byte> raw)
    {
        var contiguous = raw.ToArray();
        if (!EhloCapabilities.TryParse(raw, out var parsed) || parsed is null)
        {
            throw new InvariantViolationException($"the 250 reply {Shown.Bytes(contiguous)} does not parse as EHLO capabilities");
        }

        var model = Model(parsed);
        Require(EhloCapabilities.TryParse(new ReadOnlySequence<byte>(contiguous), out var whole), whole, model, "parsed whole", contiguous);
        Require(EhloCapabilities.TryParse(EhloCapabilities.SplitLines(raw), out var cached), cached, model, "parsed from its lines", contiguous);

        var written = new ArrayBufferWriter<byte>();
        parsed.WriteTo(written);
        Require(EhloCapabilities.TryParse(new ReadOnlySequence<byte>(written.WrittenMemory), out var again), again, model, $"written back as {Shown.Bytes(written.WrittenSpan)}", contiguous);
        return model;
    }

    private static string Model(EhloCapabilities capabilities)
        => $"greeting={Shown.Bytes(System.Text.Encoding.Latin1.GetBytes(capabilities.Greeting))} keywords=[{string.Join(", ", capabilities.Keywords.Select(k => Shown.Bytes(System.Text.Encoding.Latin1.GetBytes(k.Name + "|" + k.Parameters))))}]";

    private static void Require(bool ok, EhloCapabilities? capabilities, string model, string how, byte[] raw)
    {
        if (!ok || capabilities is null || Model(capabilities) != model)
        {
            throw new InvariantViolationException($"the 250 reply {Shown.Bytes(raw)} {how} gives {(capabilities is null ? "nothing" : Model(capabilities))}, not {model}");
        }
    }
}
