using System.Buffers;
using EarlyPipeProxy.Protocol.Data;
using EarlyPipeProxy.Protocol.Tests.TestSupport;

namespace EarlyPipeProxy.Protocol.Tests.Data;

public sealed class DataTerminatorScannerTests
{
    /// <summary>A scan result in absolute body offsets; BufferStart is where the buffer of that call began.</summary>
    private readonly record struct Outcome(DataScanStatus Status, long Position, long BufferStart);

    private static Outcome ScanOnce(string body, bool ignoreBareLineEndings = false)
    {
        var scanner = DataTerminatorScanner.Create();
        scanner.IgnoreBareLineEndings = ignoreBareLineEndings;
        var buffer = Bytes.Sequence(body);
        var status = scanner.Scan(buffer, out var position);
        return new Outcome(status, buffer.Slice(buffer.Start, position).Length, 0);
    }

    /// <summary>
    /// Plays the documented caller: the body arrives in pieces ending at <paramref name="arrivals"/> (then the rest);
    /// each call gets everything from the last returned position, one segment per arrival. Returns every result that
    /// is not NeedMoreData, and the final NeedMoreData if the body ends without end-of-data. With
    /// <paramref name="drain"/>, a bare line ending switches to IgnoreBareLineEndings and rescans from the returned position.
    /// </summary>
    private static List<Outcome> ScanInPieces(string body, IEnumerable<int> arrivals, bool ignoreBareLineEndings = false, bool drain = false)
    {
        var scanner = DataTerminatorScanner.Create();
        scanner.IgnoreBareLineEndings = ignoreBareLineEndings;
        var ends = arrivals.Append(body.Length).Distinct().Order().ToList();
        var outcomes = new List<Outcome>();
        long start = 0;
        var arrived = 0;
        foreach (var received in ends)
        {
            while (true)
            {
                var cuts = ends.Where(e => e > start && e < received).Select(e => (int)(e - start)).ToArray();
                var buffer = Bytes.SplitAt(body[(int)start..received], cuts);
                var status = scanner.Scan(buffer, out var position);
                var absolute = start + buffer.Slice(buffer.Start, position).Length;
                Assert.InRange(absolute, start, received);
                var outcome = new Outcome(status, absolute, start);
                start = absolute;

                if (status == DataScanStatus.EndOfData)
                {
                    outcomes.Add(outcome);
                    return outcomes;
                }

                if (status == DataScanStatus.NeedMoreData)
                {
                    if (received == body.Length)
                    {
                        outcomes.Add(outcome);
                    }

                    break;
                }

                outcomes.Add(outcome);
                if (!drain || scanner.IgnoreBareLineEndings)
                {
                    return outcomes;
                }

                scanner.IgnoreBareLineEndings = true;
            }

            arrived = received;
        }

        Assert.Equal(body.Length, arrived);
        return outcomes;
    }

    // ---- Reference model, written from the definition rather than from the scanner ----

    /// <summary>The dot index of the first &lt;CRLF&gt;.&lt;CRLF&gt;, the body start counting as after a CRLF; -1 if none.</summary>
    private static int TerminatorDot(string body)
    {
        var k = ("\r\n" + body).IndexOf("\r\n.\r\n", StringComparison.Ordinal);
        return k;
    }

    /// <summary>The first bare LF, (decidable) bare CR or NUL, with its kind; -1 if none.</summary>
    private static (int Index, DataScanStatus Kind) FirstBare(string body)
    {
        for (var i = 0; i < body.Length; i++)
        {
            if (body[i] == '\0')
            {
                return (i, DataScanStatus.NulCharacter);
            }

            if (body[i] == '\n' && (i == 0 || body[i - 1] != '\r'))
            {
                return (i, DataScanStatus.BareLineFeed);
            }

            if (body[i] == '\r' && i + 1 < body.Length && body[i + 1] != '\n')
            {
                return (i, DataScanStatus.BareCarriageReturn);
            }
        }

        return (-1, DataScanStatus.NeedMoreData);
    }

    /// <summary>Start of the CRLF-delimited line holding index <paramref name="index"/>.</summary>
    private static int LineStartOf(string body, int index)
    {
        var crlf = body.LastIndexOf("\r\n", Math.Max(0, index - 1), StringComparison.Ordinal);
        while (crlf >= 0 && crlf + 2 > index)
        {
            crlf = crlf == 0 ? -1 : body.LastIndexOf("\r\n", crlf - 1, StringComparison.Ordinal);
        }

        return crlf < 0 ? 0 : crlf + 2;
    }

    private static long HeldBackPosition(string body)
    {
        var lastLine = LineStartOf(body, body.Length);
        var tail = body[lastLine..];
        if (tail is "." or ".\r")
        {
            return lastLine;
        }

        return body.EndsWith('\r') ? body.Length - 1 : body.Length;
    }

    private static Outcome Expected(string body, bool ignoreBareLineEndings)
    {
        var dot = TerminatorDot(body);
        if (!ignoreBareLineEndings)
        {
            var (bare, kind) = FirstBare(body);
            if (bare >= 0 && (dot < 0 || bare < dot))
            {
                return new Outcome(kind, LineStartOf(body, bare), 0);
            }
        }

        return dot >= 0
            ? new Outcome(DataScanStatus.EndOfData, dot + 3, 0)
            : new Outcome(DataScanStatus.NeedMoreData, HeldBackPosition(body), 0);
    }

    /// <summary>Every string of up to <paramref name="maxLength"/> characters over <paramref name="alphabet"/>.</summary>
    private static IEnumerable<string> AllStrings(string alphabet, int maxLength)
    {
        var current = new List<string> { "" };
        yield return "";
        for (var length = 1; length <= maxLength; length++)
        {
            var next = new List<string>(current.Count * alphabet.Length);
            foreach (var prefix in current)
            {
                foreach (var c in alphabet)
                {
                    next.Add(prefix + c);
                }
            }

            foreach (var s in next)
            {
                yield return s;
            }

            current = next;
        }
    }

    private static string Show(string body) => body.Replace("\r", "\\r").Replace("\n", "\\n").Replace("\0", "\\0");

    // ---- Behaviour, case by case ----

    [Fact]
    public void Create_IsAtBodyStart_SameAsDefault()
    {
        var created = DataTerminatorScanner.Create();
        var buffer = Bytes.Sequence(".\r\n");

        Assert.Equal(DataScanStatus.EndOfData, created.Scan(buffer, out _));
        Assert.Equal(DataScanStatus.EndOfData, default(DataTerminatorScanner).Scan(buffer, out _));
        Assert.False(DataTerminatorScanner.Create().IgnoreBareLineEndings);
    }

    [Fact]
    public void Scan_DotCrlfAtBodyStart_IsEmptyMessage()
    {
        Assert.Equal(new Outcome(DataScanStatus.EndOfData, 3, 0), ScanOnce(".\r\nQUIT\r\n"));
    }

    [Fact]
    public void Scan_ReasonableMessage_EndsJustPastTerminator()
    {
        const string Body = "Subject: hi\r\n\r\nHello\r\n..stuffed\r\n.x\r\n\r\n.\r\n";

        Assert.Equal(new Outcome(DataScanStatus.EndOfData, Body.Length, 0), ScanOnce(Body + "QUIT\r\n"));
    }

    [Fact]
    public void Scan_EmptyLineThenTerminator_EndsAtFive()
    {
        Assert.Equal(new Outcome(DataScanStatus.EndOfData, 5, 0), ScanOnce("\r\n.\r\n"));
    }

    [Theory]
    [InlineData("..\r\n")]
    [InlineData("..foo\r\n")]
    [InlineData("a\r\n..\r\n")]
    [InlineData("a\r\n.. \r\n")]
    [InlineData("a\r\n.foo\r\n")]
    [InlineData("a\r\n .\r\n")]
    [InlineData("a.\r\n")]
    public void Scan_DotStuffedOrDotInsideLine_IsOrdinaryLine(string body)
    {
        Assert.Equal(new Outcome(DataScanStatus.NeedMoreData, body.Length, 0), ScanOnce(body));
    }

    [Fact]
    public void Scan_NulBeforeDot_IsRefusedNeverEnd()
    {
        const string Body = "a\r\n\0.\r\n";

        // Refused at the start of the line holding the NUL; while draining it is plain data, never an end.
        Assert.Equal(new Outcome(DataScanStatus.NulCharacter, 3, 0), ScanOnce(Body));
        Assert.Equal(new Outcome(DataScanStatus.NeedMoreData, Body.Length, 0), ScanOnce(Body, ignoreBareLineEndings: true));
    }

    [Fact]
    public void Scan_NulInsideLine_IsRefusedAtLineStart()
    {
        Assert.Equal(new Outcome(DataScanStatus.NulCharacter, 6, 0), ScanOnce("head\r\nab\0cd\r\n"));
    }

    [Theory]
    [InlineData("a\n.\nMAIL", DataScanStatus.BareLineFeed, 0)]
    [InlineData("a\n.\r\nMAIL", DataScanStatus.BareLineFeed, 0)]
    [InlineData("a\r.\r\nMAIL", DataScanStatus.BareCarriageReturn, 0)]
    [InlineData("a\r\n.\nMAIL", DataScanStatus.BareLineFeed, 3)]
    [InlineData("\n.\r\n", DataScanStatus.BareLineFeed, 0)]
    [InlineData(".\n", DataScanStatus.BareLineFeed, 0)]
    [InlineData(".\rX", DataScanStatus.BareCarriageReturn, 0)]
    [InlineData("\r.\r\n", DataScanStatus.BareCarriageReturn, 0)]
    public void Scan_SmugglingPattern_IsRefusedNeverEndOfData(string body, DataScanStatus expected, long position)
    {
        Assert.Equal(new Outcome(expected, position, 0), ScanOnce(body));
    }

    [Theory]
    [InlineData("a\n.\nMAIL")]
    [InlineData("a\n.\r\nMAIL")]
    [InlineData("a\r.\r\nMAIL")]
    [InlineData("a\r\n.\nMAIL")]
    [InlineData("a\r\n\0.\r\nMAIL")]
    public void Scan_SmugglingPatternWhileIgnoringBareEndings_IsNotEndOfData(string body)
    {
        Assert.Equal(new Outcome(DataScanStatus.NeedMoreData, body.Length, 0), ScanOnce(body, ignoreBareLineEndings: true));
    }

    [Fact]
    public void Scan_BareLfInLaterLine_PositionIsStartOfThatLine()
    {
        Assert.Equal(new Outcome(DataScanStatus.BareLineFeed, 4, 0), ScanOnce("ok\r\nbad\nmore\r\n.\r\n"));
    }

    [Fact]
    public void Scan_BareCrInLaterLine_PositionIsStartOfThatLine()
    {
        Assert.Equal(new Outcome(DataScanStatus.BareCarriageReturn, 4, 0), ScanOnce("ok\r\nb\rad\r\n.\r\n"));
    }

    [Fact]
    public void Scan_BareLfBeforeTerminator_WinsOverTerminator()
    {
        Assert.Equal(new Outcome(DataScanStatus.BareLineFeed, 0, 0), ScanOnce("x\ny\r\n.\r\n"));
    }

    [Fact]
    public void Scan_BareLfAfterTerminator_IsNotLookedAt()
    {
        Assert.Equal(new Outcome(DataScanStatus.EndOfData, 6, 0), ScanOnce("x\r\n.\r\n\n\r"));
    }

    [Theory]
    [InlineData("ok\r\n.", 4)]
    [InlineData("ok\r\n.\r", 4)]
    [InlineData(".", 0)]
    [InlineData(".\r", 0)]
    [InlineData("ok\r", 2)]
    [InlineData("ok\r\n\r", 4)]
    [InlineData("\r", 0)]
    [InlineData("ok\r\n", 4)]
    [InlineData("ok", 2)]
    [InlineData("", 0)]
    [InlineData("ok\r\n.x", 6)]
    [InlineData("ok\r\n..", 6)]
    public void Scan_IncompleteBody_StopsBeforeHeldBackBytes(string body, long position)
    {
        Assert.Equal(new Outcome(DataScanStatus.NeedMoreData, position, 0), ScanOnce(body));
    }

    [Fact]
    public void Scan_HeldBackDotPresentedAgain_FindsTerminator()
    {
        var scanner = DataTerminatorScanner.Create();
        var first = Bytes.Sequence("ok\r\n.");
        Assert.Equal(DataScanStatus.NeedMoreData, scanner.Scan(first, out var held));
        Assert.Equal(4, first.Slice(first.Start, held).Length);

        var second = Bytes.Sequence(".\r\nQUIT");
        var status = scanner.Scan(second, out var end);

        Assert.Equal(DataScanStatus.EndOfData, status);
        Assert.Equal(3, second.Slice(second.Start, end).Length);
    }

    [Fact]
    public void Scan_PreviousCallEndedMidLine_DotIsNotAtLineStart()
    {
        var scanner = DataTerminatorScanner.Create();
        Assert.Equal(DataScanStatus.NeedMoreData, scanner.Scan(Bytes.Sequence("hello"), out _));

        var status = scanner.Scan(Bytes.Sequence(".\r\n"), out var position);

        Assert.Equal(DataScanStatus.NeedMoreData, status);
        Assert.Equal(3, Bytes.Sequence(".\r\n").Slice(0, position).Length);
    }

    [Fact]
    public void Scan_PreviousCallEndedAfterCrlf_DotIsAtLineStart()
    {
        var scanner = DataTerminatorScanner.Create();
        Assert.Equal(DataScanStatus.NeedMoreData, scanner.Scan(Bytes.Sequence("hello\r\n"), out _));

        Assert.Equal(DataScanStatus.EndOfData, scanner.Scan(Bytes.Sequence(".\r\n"), out _));
    }

    [Fact]
    public void Scan_BareLfInLineBegunInEarlierBuffer_PositionIsBufferStart()
    {
        var scanner = DataTerminatorScanner.Create();
        Assert.Equal(DataScanStatus.NeedMoreData, scanner.Scan(Bytes.Sequence("ok\r\nabc"), out _));

        var buffer = Bytes.Sequence("def\nghi");
        var status = scanner.Scan(buffer, out var position);

        Assert.Equal(DataScanStatus.BareLineFeed, status);
        Assert.Equal(buffer.Start, position);
    }

    [Fact]
    public void Scan_HeldBackCrFollowedByOtherByte_IsBareCarriageReturnAtBufferStart()
    {
        var scanner = DataTerminatorScanner.Create();
        var first = Bytes.Sequence("ok\r\nabc\r");
        Assert.Equal(DataScanStatus.NeedMoreData, scanner.Scan(first, out var held));
        Assert.Equal(7, first.Slice(first.Start, held).Length);

        var second = Bytes.Sequence("\r.\r\n");
        var status = scanner.Scan(second, out var position);

        Assert.Equal(DataScanStatus.BareCarriageReturn, status);
        Assert.Equal(0, second.Slice(second.Start, position).Length);
    }

    [Theory]
    [InlineData("a\nb\r\n.\r\nX", 8)]
    [InlineData("a\rb\r\n.\r\nX", 8)]
    [InlineData("a\r\r\n.\r\nX", 7)]
    [InlineData("\n\r\n.\r\n", 6)]
    [InlineData("\r\r\n.\r\n", 6)]
    public void Scan_IgnoringBareEndings_EndsOnlyAtExactCrlfDotCrlf(string body, long position)
    {
        Assert.Equal(new Outcome(DataScanStatus.EndOfData, position, 0), ScanOnce(body, ignoreBareLineEndings: true));
    }

    [Fact]
    public void Scan_DrainAfterBareLf_FindsRealTerminator()
    {
        const string Body = "ok\r\nbad\n.\nstill body\r\n.\r\nQUIT\r\n";
        var scanner = DataTerminatorScanner.Create();
        var buffer = Bytes.Sequence(Body);
        Assert.Equal(DataScanStatus.BareLineFeed, scanner.Scan(buffer, out var bad));
        Assert.Equal(4, buffer.Slice(buffer.Start, bad).Length);

        scanner.IgnoreBareLineEndings = true;
        var rest = buffer.Slice(bad);
        var status = scanner.Scan(rest, out var end);

        Assert.Equal(DataScanStatus.EndOfData, status);
        Assert.Equal("QUIT\r\n", Bytes.Text(buffer.Slice(end)));
    }

    [Fact]
    public void Scan_DrainAfterBareLfOnDotLine_DotLineIsNotTerminator()
    {
        // The error is reported at the ".\n" line start; draining from there must not take it for the end.
        const string Body = "ok\r\n.\nX\r\n.\r\n";
        var scanner = DataTerminatorScanner.Create();
        var buffer = Bytes.Sequence(Body);
        Assert.Equal(DataScanStatus.BareLineFeed, scanner.Scan(buffer, out var bad));

        scanner.IgnoreBareLineEndings = true;
        Assert.Equal(DataScanStatus.EndOfData, scanner.Scan(buffer.Slice(bad), out var end));
        Assert.Equal(Body.Length, buffer.Slice(buffer.Start, end).Length);
    }

    // ---- Splitting ----

    public static TheoryData<string, bool> SplitBodies => new()
    {
        { "Subject: split\r\n\r\nline one\r\n..dot stuffed\r\n.x\r\n\r\n\0.\r\nlast\r\n.\r\nQUIT\r\n", false },
        { ".\r\nMAIL FROM:<>\r\n", false },
        { "\r\n.\r\n", false },
        { "a\r\n..\r\n.\r\n", false },
        { "a\r\n.\r\r\n.\r\n", false },
        { "ok\r\nbad\rline\r\n.\r\n", false },
        { "ok\r\nline\n.\nmore\r\n.\r\n", false },
        { "ok\r\n.\nX", false },
        { "ok\r\n\r\n\r", false },
        { "ok\r\nno end yet.", false },
        { "ok\r\n.", false },
        { "ok\r\n.\r", false },
        { "a\nb\r\n\n.\n\r.\r\n\r\n.\nx\r\r\n.\r\nQUIT", true },
        { "a\r\n\0.\r\n\r\n.\r", true },
    };

    [Theory]
    [MemberData(nameof(SplitBodies))]
    public void Scan_BodySplitAtEveryOffset_SameResultAsWhole(string body, bool ignore)
    {
        var whole = ScanOnce(body, ignore);
        for (var cut = 0; cut <= body.Length; cut++)
        {
            var outcome = Assert.Single(ScanInPieces(body, [cut], ignore));

            AssertSameResult(whole, outcome, $"{Show(body)} cut at {cut}");
        }
    }

    [Theory]
    [MemberData(nameof(SplitBodies))]
    public void Scan_BodyOneByteAtATime_SameResultAsWhole(string body, bool ignore)
    {
        var whole = ScanOnce(body, ignore);

        var outcome = Assert.Single(ScanInPieces(body, Enumerable.Range(1, body.Length), ignore));

        AssertSameResult(whole, outcome, Show(body));
    }

    [Theory]
    [MemberData(nameof(SplitBodies))]
    public void Scan_BodySplitAtEveryPairOfOffsets_SameResultAsWhole(string body, bool ignore)
    {
        var whole = ScanOnce(body, ignore);
        for (var first = 0; first <= body.Length; first++)
        {
            for (var second = first; second <= body.Length; second++)
            {
                var outcome = Assert.Single(ScanInPieces(body, [first, second], ignore));

                AssertSameResult(whole, outcome, $"{Show(body)} cut at {first},{second}");
            }
        }
    }

    [Fact]
    public void Scan_MultiSegmentBufferInOneCall_SameResultAsWhole()
    {
        const string Body = "a\r\nb\r\n.\r\nQUIT";
        var buffer = Bytes.OneBytePerSegment(Body);

        var status = DataTerminatorScanner.Create().Scan(buffer, out var position);

        Assert.Equal(DataScanStatus.EndOfData, status);
        Assert.Equal("QUIT", Bytes.Text(buffer.Slice(position)));
    }

    [Fact]
    public void Scan_LargeBodyInManySegments_FindsTerminatorOnce()
    {
        var line = new string('x', 998) + "\r\n";
        var body = string.Concat(Enumerable.Repeat(line, 200)) + ".\r\nNEXT";
        var arrivals = Enumerable.Range(1, body.Length / 4093).Select(i => i * 4093);

        var outcome = Assert.Single(ScanInPieces(body, arrivals));

        Assert.Equal(new Outcome(DataScanStatus.EndOfData, body.Length - 4, outcome.BufferStart), outcome);
    }

    private static void AssertSameResult(Outcome whole, Outcome pieces, string because)
    {
        Assert.True(whole.Status == pieces.Status, $"status {pieces.Status} instead of {whole.Status} for {because}");

        // An error in a line whose first part was forwarded by an earlier call is reported at the buffer start.
        var expected = whole.Status is DataScanStatus.BareLineFeed or DataScanStatus.BareCarriageReturn or DataScanStatus.NulCharacter
            ? Math.Max(whole.Position, pieces.BufferStart)
            : whole.Position;
        Assert.True(expected == pieces.Position, $"position {pieces.Position} instead of {expected} for {because}");
    }

    // ---- Exhaustive comparison with the reference model ----

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Scan_EveryShortBody_MatchesReferenceModel(bool ignore)
    {
        foreach (var body in AllStrings("\r\n.a", 7))
        {
            var expected = Expected(body, ignore);

            var whole = ScanOnce(body, ignore);

            Assert.True(expected == whole, $"{Show(body)}: {whole} instead of {expected}");
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Scan_EveryShortBodyOneByteAtATime_MatchesReferenceModel(bool ignore)
    {
        foreach (var body in AllStrings("\r\n.a", 6))
        {
            var expected = Expected(body, ignore);

            var outcome = Assert.Single(ScanInPieces(body, Enumerable.Range(1, body.Length), ignore));

            AssertSameResult(expected, outcome, Show(body));
        }
    }

    [Fact]
    public void Scan_EveryShortBodySplitOnceThenDrained_MatchesReferenceModel()
    {
        foreach (var body in AllStrings("\r\n.a", 6))
        {
            var strict = Expected(body, ignoreBareLineEndings: false);
            var drained = Expected(body, ignoreBareLineEndings: true);
            for (var cut = 0; cut <= body.Length; cut++)
            {
                var outcomes = ScanInPieces(body, [cut], drain: true);

                AssertSameResult(strict, outcomes[0], $"{Show(body)} cut at {cut}");
                if (strict.Status is DataScanStatus.BareLineFeed or DataScanStatus.BareCarriageReturn)
                {
                    // Draining from the refused line finds exactly the CRLF.CRLF a fresh lenient scan would.
                    Assert.Equal(2, outcomes.Count);
                    AssertSameResult(drained, outcomes[1], $"{Show(body)} cut at {cut}, drained");
                }
            }
        }
    }

    [Fact]
    public void Scan_RandomBodiesInRandomPieces_MatchesReferenceModel()
    {
        var random = new Random(20251);
        const string Alphabet = "\r\n.ab\0";
        for (var round = 0; round < 3000; round++)
        {
            var length = random.Next(0, 40);
            var body = new string([.. Enumerable.Range(0, length).Select(_ => Alphabet[random.Next(Alphabet.Length)])]);

            // Bias towards clean CRLF lines so that deep end-of-data cases are common.
            body = round % 2 == 0 ? body.Replace("\n", "\r\n").Replace("\r\r", "\r") : body;
            var ignore = round % 3 == 0;
            var arrivals = Enumerable.Range(0, random.Next(0, 6)).Select(_ => random.Next(0, body.Length + 1)).ToArray();

            var outcome = Assert.Single(ScanInPieces(body, arrivals, ignore));

            AssertSameResult(Expected(body, ignore), outcome, $"{Show(body)} split at {string.Join(",", arrivals)}");
        }
    }
}
