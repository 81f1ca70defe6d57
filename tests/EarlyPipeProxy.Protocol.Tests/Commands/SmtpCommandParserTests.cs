using EarlyPipeProxy.Protocol.Commands;
using EarlyPipeProxy.Protocol.Tests.TestSupport;

namespace EarlyPipeProxy.Protocol.Tests.Commands;

public sealed class SmtpCommandParserTests
{
    private static SmtpCommand Parse(string line) => SmtpCommandParser.Parse(Bytes.Of(line));

    [Theory]
    [InlineData("HELO client.example", SmtpVerb.Helo)]
    [InlineData("EHLO client.example", SmtpVerb.Ehlo)]
    [InlineData("MAIL FROM:<a@b>", SmtpVerb.Mail)]
    [InlineData("RCPT TO:<a@b>", SmtpVerb.Rcpt)]
    [InlineData("DATA", SmtpVerb.Data)]
    [InlineData("BDAT 10", SmtpVerb.Bdat)]
    [InlineData("RSET", SmtpVerb.Rset)]
    [InlineData("NOOP", SmtpVerb.Noop)]
    [InlineData("QUIT", SmtpVerb.Quit)]
    [InlineData("VRFY postmaster", SmtpVerb.Vrfy)]
    [InlineData("EXPN list", SmtpVerb.Expn)]
    [InlineData("HELP", SmtpVerb.Help)]
    [InlineData("STARTTLS", SmtpVerb.StartTls)]
    [InlineData("AUTH PLAIN AGFAYg==", SmtpVerb.Auth)]
    [InlineData("XCLIENT ADDR=192.0.2.1", SmtpVerb.Xclient)]
    [InlineData("XFORWARD NAME=x", SmtpVerb.Xforward)]
    [InlineData("ETRN example.org", SmtpVerb.Etrn)]
    [InlineData("TURN", SmtpVerb.Turn)]
    public void Parse_KnownVerb_ReturnsVerb(string line, SmtpVerb expected)
    {
        var command = Parse(line);

        Assert.Equal(expected, command.Verb);
    }

    [Theory]
    [InlineData("mail FROM:<a@b>", SmtpVerb.Mail)]
    [InlineData("Rcpt TO:<a@b>", SmtpVerb.Rcpt)]
    [InlineData("data", SmtpVerb.Data)]
    [InlineData("StartTls", SmtpVerb.StartTls)]
    [InlineData("xClient NAME=x", SmtpVerb.Xclient)]
    [InlineData("bdat 1 last", SmtpVerb.Bdat)]
    public void Parse_MixedCaseVerb_MatchesCaseInsensitively(string line, SmtpVerb expected)
    {
        Assert.Equal(expected, Parse(line).Verb);
    }

    [Theory]
    [InlineData("DATAX")]
    [InlineData("DAT")]
    [InlineData("STARTTLSX")]
    [InlineData("MAIL:FROM")]
    [InlineData("")]
    [InlineData(" \t ")]
    [InlineData("\"XCLIENT\" ADDR=x")]
    [InlineData("<XCLIENT> ADDR=x")]
    [InlineData("X\\CLIENT ADDR=x")]
    [InlineData("XCLIENT:ADDR=x")]
    [InlineData("XCLIENT\u00a0ADDR=x")]
    [InlineData("XCLIENT\u0085ADDR=x")]
    [InlineData("FOO bar")]
    [InlineData("M\u00c1IL FROM:<a@b>")]
    [InlineData("XCLIENTS")]
    public void Parse_NotAVerbFollowedBySpaceOrEnd_ReturnsUnknown(string line)
    {
        var command = Parse(line);

        Assert.Equal(SmtpVerb.Unknown, command.Verb);
        Assert.Equal(-1, command.BdatChunkSize);
        Assert.False(command.BdatLast);
    }

    [Theory]
    [InlineData("MAIL FROM:<a@b>", 5)]
    [InlineData("MAIL   FROM:<a@b>", 7)]
    [InlineData("DATA", 4)]
    [InlineData("DATA ", 5)]
    [InlineData("QUIT   ", 7)]
    [InlineData("FOO bar", 4)]
    [InlineData("", 0)]
    [InlineData(" x", 2)]
    [InlineData("  \t", 3)]
    [InlineData("EHLO\tclient.example", 5)]
    [InlineData(" \tEHLO \t client.example", 9)]
    [InlineData("\tMAIL\tFROM:<a@b>", 6)]
    public void Parse_Line_ArgumentStartIsAfterVerbAndSpaces(string line, int expected)
    {
        Assert.Equal(expected, Parse(line).ArgumentStart);
    }

    [Fact]
    public void Parse_NonBdat_HasNoChunkSize()
    {
        var command = Parse("MAIL FROM:<a@b> SIZE=1234");

        Assert.Equal(new SmtpCommand(SmtpVerb.Mail, 5, -1, false), command);
        Assert.False(command.IsMalformedBdat);
    }

    [Theory]
    [InlineData("BDAT 1234 LAST", 1234L, true)]
    [InlineData("BDAT 1234", 1234L, false)]
    [InlineData("BDAT 0 LAST", 0L, true)]
    [InlineData("BDAT 0", 0L, false)]
    [InlineData("BDAT 1 last", 1L, true)]
    [InlineData("BDAT 1 LaSt", 1L, true)]
    [InlineData("BDAT 007", 7L, false)]
    [InlineData("BDAT 9223372036854775807", long.MaxValue, false)]
    [InlineData("BDAT 00000000000000000000000042 LAST", 42L, true)]
    public void Parse_WellFormedBdat_ReturnsSizeAndLast(string line, long size, bool last)
    {
        var command = Parse(line);

        Assert.Equal(new SmtpCommand(SmtpVerb.Bdat, 5, size, last), command);
        Assert.False(command.IsMalformedBdat);
    }

    [Fact]
    public void Parse_BdatWithSeveralSpacesBeforeSize_SizeStartsAtArgumentStart()
    {
        var command = Parse("BDAT   12 LAST");

        Assert.Equal(new SmtpCommand(SmtpVerb.Bdat, 7, 12, true), command);
    }

    [Theory]
    [InlineData("BDAT")]
    [InlineData("BDAT ")]
    [InlineData("BDAT LAST")]
    [InlineData("BDAT -1")]
    [InlineData("BDAT +1")]
    [InlineData("BDAT 1.5")]
    [InlineData("BDAT 0x10")]
    [InlineData("BDAT 12a")]
    [InlineData("BDAT 12 LAST LAST")]
    [InlineData("BDAT 12 LASTX")]
    [InlineData("BDAT 12 LAS")]
    [InlineData("BDAT 12 MORE")]
    [InlineData("BDAT 12 \"LAST\"")]
    [InlineData("BDAT \"12\"")]
    [InlineData("BDAT <12>")]
    [InlineData("BDAT 12\\ LAST")]
    [InlineData("BDAT\t-1\tLAST")]
    [InlineData("BDAT 9223372036854775808")]
    [InlineData("BDAT 99999999999999999999999 LAST")]
    [InlineData("BDAT \u0661\u0662")]
    public void Parse_MalformedBdat_ReturnsMinusOneAndNotLast(string line)
    {
        var command = Parse(line);

        Assert.Equal(SmtpVerb.Bdat, command.Verb);
        Assert.Equal(-1, command.BdatChunkSize);
        Assert.False(command.BdatLast);
        Assert.True(command.IsMalformedBdat);
    }

    /// <summary>
    /// Postfix's tokenizer (smtpd/smtpd_token.c) skips leading ISSPACE and ends a word at any ISSPACE (SP, HT, LF,
    /// VT, FF, CR), so each of these spellings is the verb to the backend and must be to the proxy.
    /// </summary>
    [Theory]
    [MemberData(nameof(VerbSpellings))]
    public void Parse_VerbWithPostfixWhitespace_IsTheVerb(string line, SmtpVerb expected)
    {
        Assert.Equal(expected, Parse(line).Verb);
    }

    [Theory]
    [MemberData(nameof(VerbSpellings))]
    public void Parse_VerbWithPostfixWhitespaceInSegments_IsTheVerb(string line, SmtpVerb expected)
    {
        Assert.Equal(expected, SmtpCommandParser.Parse(Bytes.OneBytePerSegment(line)).Verb);
        Assert.Equal(expected, SmtpCommandParser.Parse(Bytes.SplitAt(line, line.Length / 2)).Verb);
    }

    [Fact]
    public void Parse_VerbAfterLongLeadingWhitespaceInSegments_IsTheVerb()
    {
        var line = new string(' ', 700) + "XCLIENT ADDR=10.0.0.1";

        var command = SmtpCommandParser.Parse(Bytes.SplitAt(line, 100, 600));

        Assert.Equal(SmtpVerb.Xclient, command.Verb);
        Assert.Equal(708, command.ArgumentStart);
    }

    public static TheoryData<string, SmtpVerb> VerbSpellings()
    {
        var data = new TheoryData<string, SmtpVerb>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        (string Verb, string Argument, SmtpVerb Expected)[] verbs =
        [
            ("XCLIENT", "ADDR=10.0.0.1", SmtpVerb.Xclient),
            ("XFORWARD", "ADDR=10.0.0.1", SmtpVerb.Xforward),
            ("DATA", "", SmtpVerb.Data),
            ("BDAT", "10 LAST", SmtpVerb.Bdat),
            ("STARTTLS", "", SmtpVerb.StartTls),
            ("AUTH", "PLAIN AGFAYg==", SmtpVerb.Auth),
            ("EHLO", "client.example", SmtpVerb.Ehlo),
            ("HELO", "client.example", SmtpVerb.Helo),
            ("QUIT", "", SmtpVerb.Quit),
            ("MAIL", "FROM:<a@b>", SmtpVerb.Mail),
            ("RCPT", "TO:<a@b>", SmtpVerb.Rcpt),
            ("NOOP", "x", SmtpVerb.Noop),
        ];
        string[] before = ["", " ", "  ", "\t", " \t", "\t ", "\v", "\f"];
        string[] between = [" ", "\t", "  ", " \t", "\t\t", "\v", "\f"];
        foreach (var (verb, argument, expected) in verbs)
        {
            foreach (var spelling in new[] { verb, verb.ToLowerInvariant(), char.ToUpperInvariant(verb[0]) + verb[1..].ToLowerInvariant() })
            {
                foreach (var lead in before)
                {
                    foreach (var tail in between.Select(gap => gap + argument).Append(string.Empty).Append("\t"))
                    {
                        var line = lead + spelling + tail;
                        if (seen.Add(line))
                        {
                            data.Add(line, expected);
                        }
                    }
                }
            }
        }

        return data;
    }

    [Theory]
    [InlineData("BDAT\t10", 10L, false)]
    [InlineData("BDAT 10\tLAST", 10L, true)]
    [InlineData(" BDAT 10 LAST", 10L, true)]
    [InlineData("\tbdat\t\t10\t \tlast\t", 10L, true)]
    [InlineData("BDAT 12 ", 12L, false)]
    [InlineData("BDAT 12  LAST", 12L, true)]
    [InlineData("BDAT 12 LAST ", 12L, true)]
    [InlineData("BDAT 12\tLAST", 12L, true)]
    public void Parse_BdatWithPostfixWhitespace_ReadsSizeAndLastAsPostfixDoes(string line, long size, bool last)
    {
        var command = Parse(line);

        Assert.Equal(SmtpVerb.Bdat, command.Verb);
        Assert.Equal(size, command.BdatChunkSize);
        Assert.Equal(last, command.BdatLast);
    }

    [Theory]
    [InlineData("NOOP\0")]
    [InlineData("XCLIENT ADDR=10.0.0.1\0 junk")]
    [InlineData("\0XCLIENT ADDR=10.0.0.1")]
    [InlineData("MAIL FROM:<a@b>\u0001")]
    [InlineData("RCPT TO:<a\u001b@b>")]
    [InlineData("DATA\u007f")]
    [InlineData("NOOP\u000b")]
    [InlineData("NOOP\u000c")]
    [InlineData("EHLO \u001fx")]
    public void Parse_ControlByte_IsReported(string line)
    {
        Assert.True(Parse(line).HasControlByte);
        Assert.True(SmtpCommandParser.Parse(Bytes.OneBytePerSegment(line)).HasControlByte);
        Assert.True(SmtpCommandParser.ContainsControlByte(Bytes.OneBytePerSegment(line)));
    }

    [Theory]
    [InlineData("NOOP\tx")]
    [InlineData("MAIL FROM:<a@b> SMTPUTF8")]
    [InlineData("EHLO \u00e9x")]
    [InlineData("AGFAYg==")]
    [InlineData("")]
    public void Parse_NoControlByte_IsNotReported(string line)
    {
        Assert.False(Parse(line).HasControlByte);
        Assert.False(SmtpCommandParser.ContainsControlByte(Bytes.Sequence(line)));
    }
}
