using CsCheck;
using EarlyPipeProxy.Fuzz.Drivers;

namespace EarlyPipeProxy.Protocol.Tests.Properties;

/// <summary>
/// SmtpLineReader over generated input: split into any segments and arrivals it reads the same lines as whole, and
/// each outcome keeps the reader's promises (LineFraming checks them: Incomplete and TooLong consume nothing, a
/// Complete line has no CR or LF and fits the limit, Incomplete never sits on more than a line's worth).
/// </summary>
public sealed class LineReaderProperties
{
    private static readonly Gen<int> MaxLength = Gen.OneOf(0, 1, 4, 16, 64, 512, 1000);

    [Fact]
    public void Lines_split_anywhere_read_as_unsplit()
    {
        Property.Check(Gen.Select(ProtocolGen.Split(ProtocolGen.Bytes), MaxLength), t =>
        {
            var (input, maxLength) = t;
            var unsplit = LineFraming.Run(input.Whole(), maxLength, maxAuthLength: null);
            Shown.RequireSame(unsplit, LineFraming.Run(input.Split(), maxLength, maxAuthLength: null), "split");
            Shown.RequireSame(unsplit, LineFraming.Run(input.OneByteAtATime(), maxLength, maxAuthLength: null), "one byte at a time");
        }, iterations: 400);
    }
}
