using EarlyPipeProxy.Protocol.Data;

namespace EarlyPipeProxy.Fuzz.Drivers;

/// <summary>
/// The rule <see cref="DataTerminatorScanner"/> enforces, written naively, one byte at a time over the whole body:
/// the body starts at a line start; a line end is exactly CRLF; a line that is exactly "." ends the body just past its
/// CRLF; a NUL, a LF not after CR, or a CR followed by anything but LF refuses the body at the start of its line;
/// a body that stops early holds back a last CR, and a last line that is "." or ".\r". While draining
/// (<c>IgnoreBareLineEndings</c>) NUL and bare LF are data, a bare CR is skipped alone, and only CRLF "." CRLF ends.
/// </summary>
internal static class DataTerminatorModel
{
    /// <summary>
    /// The results the documented caller sees for the whole body at once: the first refusal or end, and with
    /// <paramref name="drain"/> a drain from the refused line's start to the end; the final NeedMoreData if the body
    /// stops without an end. Refusal positions here are always the real line start.
    /// </summary>
    public static List<ScanOutcome> Expect(byte[] body, bool ignoreBareLineEndings, bool drain)
    {
        var outcomes = new List<ScanOutcome>();
        var first = Scan(body, 0, ignoreBareLineEndings);
        outcomes.Add(new ScanOutcome(first.Status, first.Position, 0));
        if (drain && !ignoreBareLineEndings && IsRefusal(first.Status))
        {
            var rest = Scan(body, (int)first.Position, ignoreBareLineEndings: true);
            outcomes.Add(new ScanOutcome(rest.Status, rest.Position, first.Position));
        }

        return outcomes;
    }

    public static bool IsRefusal(DataScanStatus status)
        => status is DataScanStatus.BareLineFeed or DataScanStatus.BareCarriageReturn or DataScanStatus.NulCharacter;

    /// <summary>Scans from <paramref name="from"/>, which is a line start.</summary>
    private static (DataScanStatus Status, long Position) Scan(byte[] body, int from, bool ignoreBareLineEndings)
    {
        var atLineStart = true;
        var lineStart = from;
        var i = from;
        while (i < body.Length)
        {
            if (atLineStart)
            {
                lineStart = i;
                atLineStart = false;
                if (body[i] == '.')
                {
                    var left = body.Length - i;
                    if (left >= 3 && body[i + 1] == '\r' && body[i + 2] == '\n')
                    {
                        return (DataScanStatus.EndOfData, i + 3);
                    }

                    if (left == 1 || (left == 2 && body[i + 1] == '\r'))
                    {
                        return (DataScanStatus.NeedMoreData, i);
                    }
                }
            }

            var b = body[i];
            if (b == 0 && !ignoreBareLineEndings)
            {
                return (DataScanStatus.NulCharacter, lineStart);
            }

            if (b == '\n' && !ignoreBareLineEndings)
            {
                // A LF that ends a CRLF is stepped over with its CR below, so any LF met here is bare.
                return (DataScanStatus.BareLineFeed, lineStart);
            }

            if (b == '\r')
            {
                if (i + 1 == body.Length)
                {
                    return (DataScanStatus.NeedMoreData, i);
                }

                if (body[i + 1] == '\n')
                {
                    i += 2;
                    atLineStart = true;
                    continue;
                }

                if (!ignoreBareLineEndings)
                {
                    return (DataScanStatus.BareCarriageReturn, lineStart);
                }
            }

            i++;
        }

        return (DataScanStatus.NeedMoreData, body.Length);
    }
}
