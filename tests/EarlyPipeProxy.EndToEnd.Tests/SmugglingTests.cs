using EarlyPipeProxy.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace EarlyPipeProxy.EndToEnd.Tests;

/// <summary>
/// Test 6: SMTP smuggling. Postfix 3.7 with its defaults (smtpd_forbid_bare_newline = no) takes a bare LF
/// before "." as end-of-data, so the proxy must never let such a sequence reach it as one.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class SmugglingTests(PostfixFixture postfix, ITestOutputHelper output)
{
    public static TheoryData<string, string> Sequences => new()
    {
        { "lf-dot-lf", "\n.\n" },
        { "lf-dot-crlf", "\n.\r\n" },
        { "cr-dot-crlf", "\r.\r\n" },
        { "crlf-dot-lf", "\r\n.\n" },
        { "crlf-nul-dot-crlf", "\r\n\0.\r\n" },
    };

    [SkippableTheory]
    [MemberData(nameof(Sequences))]
    public async Task Smuggled_message_never_reaches_Postfix(string name, string sequence)
    {
        await postfix.EnsureStartedAsync();
        await using var proxy = await ProxyProcess.StartAsync(output, new ListenerSpec("smtp", postfix.SmtpPort, "Xclient"));
        var id = Ids.New("smug-" + name);
        var mark = postfix.Log.Mark();

        var replies = await SmuggleAsync(proxy["smtp"].ListenPort, id, sequence);
        output.WriteLine("replies: " + string.Join(" | ", replies.Select(r => r.Lines[^1])));

        await postfix.WaitForSessionsToEndAsync(mark);
        await postfix.SettleAsync();
        var delivered = postfix.Maildir.MessagesContaining(id);
        foreach (var (file, content) in delivered)
        {
            output.WriteLine($"--- delivered {file}\n{System.Text.Encoding.Latin1.GetString(content)}");
        }

        Assert.DoesNotContain(delivered, m => Maildir.Headers(m.Content).Contains("smuggled-" + id, StringComparison.Ordinal));
        Assert.DoesNotContain(postfix.Log.LinesSince(mark), l => l.Contains("to=<smuggled-" + id, StringComparison.Ordinal));
        Assert.True(delivered.Count <= 1, $"{delivered.Count} messages delivered for one DATA");

        // The proxy's own rule is stricter than "at most one": a body with a bare CR, LF or NUL is not delivered at
        // all, and the client hears so after its end-of-data.
        Assert.Empty(delivered);
        Assert.Contains(replies, r => r.Code == 550 && r.Lines[^1].Contains("5.5.2", StringComparison.Ordinal));
    }

    /// <summary>Informational: what Postfix 3.7 itself does with these bytes when nobody is in front of it.</summary>
    [SkippableTheory]
    [MemberData(nameof(Sequences))]
    public async Task Informational_the_same_bytes_sent_directly_to_Postfix(string name, string sequence)
    {
        await postfix.EnsureStartedAsync();
        var id = Ids.New("direct-" + name);
        var mark = postfix.Log.Mark();

        var replies = await SmuggleAsync(postfix.SmtpPort, id, sequence);

        await postfix.WaitForSessionsToEndAsync(mark);
        await postfix.SettleAsync();
        var delivered = postfix.Maildir.MessagesContaining(id);
        var smuggled = delivered.Count(m => Maildir.Headers(m.Content).Contains("smuggled-" + id, StringComparison.Ordinal));
        output.WriteLine($"directly to Postfix, {name}: replies {string.Join(" | ", replies.Select(r => r.Lines[^1]))}");
        output.WriteLine($"directly to Postfix, {name}: {delivered.Count} message(s) delivered, {smuggled} to the smuggled recipient");
        Console.WriteLine($"[informational] Postfix 3.7 direct, {name}: delivered={delivered.Count} smuggled={smuggled}");
    }

    private async Task<IReadOnlyList<SmtpReply>> SmuggleAsync(int port, string id, string sequence)
    {
        await using var c = await RawSmtpClient.ConnectAsync("127.0.0.1", port);
        try
        {
            await c.ExpectAsync(220);
            await c.CommandAsync("EHLO smuggler.test", 250);
            await c.CommandAsync("MAIL FROM:<smuggler@client.test>", 250);
            await c.CommandAsync($"RCPT TO:<real-{id}@{PostfixFixture.Domain}>", 250);
            await c.CommandAsync("DATA", 354);
            await c.SendAsync(
                $"Subject: real {id}\r\nX-Marker: {id}\r\n\r\nreal body" + sequence +
                "MAIL FROM:<smuggler@client.test>\r\n" +
                $"RCPT TO:<smuggled-{id}@{PostfixFixture.Domain}>\r\n" +
                "DATA\r\n" +
                $"Subject: smuggled {id}\r\nX-Marker: {id}\r\n\r\nsmuggled body\r\n.\r\n" +
                "\r\n.\r\n" +
                "QUIT\r\n");
            var replies = await c.ReadRepliesUntilCloseAsync(TimeSpan.FromSeconds(15));
            return replies;
        }
        finally
        {
            output.WriteLine(c.Transcript);
        }
    }
}
