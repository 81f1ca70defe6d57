using System.Text.RegularExpressions;
using EarlyPipeProxy.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace EarlyPipeProxy.EndToEnd.Tests;

/// <summary>
/// The proxy classifies a command line the way Postfix does, proven against Postfix itself: each line of the table
/// goes straight to Postfix (from 127.0.0.1, an smtpd_authorized_xclient_hosts address, as the proxy's own
/// connection is) and what Postfix did with it is recorded; then the same line goes through the proxy from
/// 127.0.0.1, and the proxy must have classified it alike. A line Postfix runs as XCLIENT or XFORWARD is refused by
/// the proxy and Postfix's session with the proxy shows no client XCLIENT/XFORWARD; a line with a control byte
/// reaches Postfix not at all; any other line gets Postfix's own answer.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed partial class CommandClassificationTests(PostfixFixture postfix, ITestOutputHelper output)
{
    private const string ImpersonatedAddress = "10.0.0.1";

    /// <summary>Name → (line without CRLF, whether it is sent inside a MAIL transaction, what follows its reply).</summary>
    private static readonly Dictionary<string, Row> Table = new()
    {
        ["xclient"] = new($"XCLIENT ADDR={ImpersonatedAddress}"),
        ["xclient-leading-space"] = new($" XCLIENT ADDR={ImpersonatedAddress}"),
        ["xclient-leading-tab"] = new($"\tXCLIENT ADDR={ImpersonatedAddress}"),
        ["xclient-tab"] = new($"XCLIENT\tADDR={ImpersonatedAddress}"),
        ["xclient-spaces-and-tabs"] = new($" \t XCLIENT \t ADDR={ImpersonatedAddress}"),
        ["xclient-lower-case"] = new($"xclient addr={ImpersonatedAddress}"),
        ["xclient-nul-after"] = new($"XCLIENT ADDR={ImpersonatedAddress}\0 NAME=x"),
        ["xclient-glued"] = new($"XCLIENTADDR={ImpersonatedAddress}"),
        ["xclient-colon"] = new($"XCLIENT:ADDR={ImpersonatedAddress}"),
        ["xforward"] = new($"XFORWARD ADDR={ImpersonatedAddress}"),
        ["xforward-tab"] = new($"XFORWARD\tADDR={ImpersonatedAddress}"),
        ["xforward-leading-space"] = new($" xforward addr={ImpersonatedAddress}"),
        ["noop-tab"] = new("NOOP\tx"),
        ["noop-leading-space"] = new(" NOOP"),
        ["noop-nul"] = new("NOOP\0"),
        ["noop-escape"] = new("NOOP \u001b[0m"),
        ["data-tab"] = new("DATA\t", InTransaction: true, AfterReply: "Subject: classification\r\n\r\nbody\r\n.\r\n"),
        ["data-leading-space"] = new(" DATA", InTransaction: true, AfterReply: "Subject: classification\r\n\r\nbody\r\n.\r\n"),
        ["data-leading-tab"] = new("\tdata", InTransaction: true, AfterReply: "Subject: classification\r\n\r\nbody\r\n.\r\n"),
        ["bdat-tabs"] = new("BDAT\t5\tLAST", InTransaction: true, Inline: "hello"),
        ["bdat-two-spaces"] = new(" BDAT 5  LAST", InTransaction: true, Inline: "hello"),
    };

    public static TheoryData<string> Rows() => [.. Table.Keys];

    [SkippableTheory]
    [MemberData(nameof(Rows))]
    public async Task The_proxy_classifies_a_line_as_Postfix_runs_it(string name)
    {
        await postfix.EnsureStartedAsync();
        await using var proxy = await ProxyProcess.StartAsync(output, new ListenerSpec("smtp", postfix.SmtpPort, "Xclient"));
        var row = Table[name];

        var direct = await RunAsync("direct", postfix.SmtpPort, row);
        var proxyMark = postfix.Log.Mark();
        var proxied = await RunAsync("proxy", proxy["smtp"].ListenPort, row);
        // The client's session is the one with two EHLOs (the proxy's, then the client's after the proxy's XCLIENT);
        // the proxy's own probes of the backend have one.
        var proxySession = await postfix.Log.WaitForLineAsync(
            proxyMark,
            l => l.Contains("disconnect from", StringComparison.Ordinal) && l.Contains(" ehlo=2 ", StringComparison.Ordinal),
            "the end of the proxied session");
        // Only the proxied session's own lines (its smtpd process): the direct session's last line, which names
        // 10.0.0.1 when XCLIENT ran, may be logged after the mark.
        var smtpd = System.Text.RegularExpressions.Regex.Match(proxySession, @"smtpd\[\d+\]:").Value;
        var proxyLog = postfix.Log.LinesSince(proxyMark).Where(l => l.Contains(smtpd, StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(smtpd);
        output.WriteLine($"Postfix direct: {direct[0]}");
        output.WriteLine($"through proxy:  {proxied[0]} | {proxySession}");

        // What Postfix made of the line: XCLIENT runs (a fresh 220, the session now "unknown[10.0.0.1]"); XFORWARD,
        // not authorized here, gets xforward_cmd's refusal (smtpd.c), which a line it does not recognize never gets.
        var postfixRanIdentityCommand = direct[0].Code == 220 || direct[0].Text == "550 5.7.0 Error: insufficient authorization";
        Assert.DoesNotContain(proxyLog, l => l.Contains($"[{ImpersonatedAddress}]", StringComparison.Ordinal));
        if (row.Line.Any(c => c is < ' ' and not '\t' or '\u007f'))
        {
            Assert.Equal("500 5.5.2 Error: NUL or control character in command line", proxied[0].Text);
            // Postfix saw the proxy's EHLO, its XCLIENT, the client's EHLO and QUIT, and nothing of the line.
            Assert.Equal("ehlo=2 xclient=0/1 quit=1 commands=3/4", Counts(proxySession));
        }
        else if (postfixRanIdentityCommand)
        {
            Assert.Equal("550 5.7.0 Error: insufficient authorization", proxied[0].Text);
            // The proxy's own XCLIENT is the only one; the client's never arrived.
            Assert.Equal("ehlo=2 xclient=0/1 quit=1 commands=3/4", Counts(proxySession));
        }
        else
        {
            // Postfix's own answer, through the proxy, to the line Postfix got as it was.
            Assert.Equal(direct.Select(r => r.Code), proxied.Select(r => r.Code));
            Assert.Equal(0, Counted(proxySession, "xforward"));
            Assert.Equal(1, Counted(proxySession, "xclient"));
        }
    }

    private async Task<List<SmtpReply>> RunAsync(string label, int port, Row row)
    {
        await using var c = await RawSmtpClient.ConnectAsync("127.0.0.1", port, "127.0.0.1");
        try
        {
            await c.ExpectAsync(220);
            await c.CommandAsync("EHLO classification.test", 250);
            if (row.InTransaction)
            {
                await c.CommandAsync("MAIL FROM:<classification@client.test>", 250);
                await c.CommandAsync($"RCPT TO:<{PostfixFixture.Address(Ids.New("classification"))}>", 250);
            }

            await c.SendAsync(row.Line + "\r\n" + row.Inline);
            var replies = new List<SmtpReply> { await c.ReadReplyAsync() ?? throw new InvalidOperationException("closed after the line\n" + c.Transcript) };
            if (row.AfterReply is not null && replies[0].Code == 354)
            {
                await c.SendAsync(row.AfterReply);
                replies.Add(await c.ReadReplyAsync() ?? throw new InvalidOperationException("closed after the body\n" + c.Transcript));
            }

            await c.SendAsync("QUIT\r\n");
            await c.ReadRepliesUntilCloseAsync(TimeSpan.FromSeconds(5));
            return replies;
        }
        finally
        {
            output.WriteLine($"--- {label}\n{c.Transcript}");
        }
    }

    /// <summary>The command counts of a "disconnect from" line: "ehlo=1 xclient=0/1 quit=1 commands=2/3".</summary>
    private static string Counts(string disconnect) => CountsRegex().Match(disconnect).Groups["counts"].Value;

    /// <summary>How many times the command was received (the denominator of "xclient=0/1", or its only number).</summary>
    private static int Counted(string disconnect, string command)
    {
        var match = Regex.Match(disconnect, $@"\b{command}=(?:\d+/)?(?<total>\d+)\b");
        return match.Success ? int.Parse(match.Groups["total"].Value, System.Globalization.CultureInfo.InvariantCulture) : 0;
    }

    [GeneratedRegex(@"disconnect from \S+ (?<counts>.*)$")]
    private static partial Regex CountsRegex();

    private sealed record Row(string Line, bool InTransaction = false, string? AfterReply = null, string Inline = "");
}
