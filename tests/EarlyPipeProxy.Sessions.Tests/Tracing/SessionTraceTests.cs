using EarlyPipeProxy.Sessions.Tests.TestSupport;

namespace EarlyPipeProxy.Sessions.Tests.Tracing;

/// <summary>
/// Trace:Clients, end to end through a session with scripted peers: what a traced session logs in each direction,
/// what it never logs (bodies, credentials), and that other clients are not traced at all.
/// </summary>
public sealed class SessionTraceTests
{
    private const string Body = "Subject: secret-subject\r\n\r\nsecret body line\r\n";
    private const string Trace = "Information: trace H=[127.0.0.7]:40007 I=test ";

    [Fact]
    public async Task InboundSession_TracedClient_LogsEveryCommandAndReplyEachWayAndTheQueueId()
    {
        // Arrange
        await using var harness = new SessionHarness(FakeBackendOptions.Pipelining(), o => o.Trace.Clients = ["127.0.0.0/8"]);
        await harness.StartAndEhloAsync();

        // Act
        await harness.Client.SendAsync($"{HarnessExtensions.Sender}\r\n{HarnessExtensions.Recipient}\r\nDATA\r\n");
        await harness.Client.ReadReplyAsync();
        await harness.Client.ReadReplyAsync();
        Assert.StartsWith("354", (await harness.Client.ReadReplyAsync())[0], StringComparison.Ordinal);
        await harness.Client.SendAsync(Body + ".\r\n");
        Assert.Equal(["250 2.0.0 Ok: queued as 1"], await harness.Client.ReadReplyAsync());
        await harness.Client.SendAsync("QUIT\r\n");
        await harness.Client.ReadReplyAsync();
        await harness.WaitForEndAsync();

        // Assert: each way, in the order the proxy saw them.
        var trace = TraceLines(harness.Log.Lines, Trace);
        string[] expected =
        [
            "B>P " + FakeBackendOptions.FinalBannerLine,
            "P>C " + FakeBackendOptions.FinalBannerLine,
            "C>P EHLO client.example",
            "P>B EHLO client.example",
            "C>P MAIL FROM:<alice@example.org>",
            "P>B MAIL FROM:<alice@example.org>",
            "C>P RCPT TO:<bob@example.net>",
            "P>B RCPT TO:<bob@example.net>",
            "C>P DATA",
            "P>B DATA",
            "B>P 250 2.1.0 Ok",
            "P>C 250 2.1.0 Ok",
            "B>P 250 2.1.5 Ok",
            "P>C 250 2.1.5 Ok",
            "B>P 354 End data with <CR><LF>.<CR><LF>",
            "P>C 354 End data with <CR><LF>.<CR><LF>",
            $"C>P (message data: {Body.Length + 3} octets)",
            $"P>B (message data: {Body.Length + 3} octets)",
            "B>P 250 2.0.0 Ok: queued as 1",
            "P>C 250 2.0.0 Ok: queued as 1",
            "C>P QUIT",
            "P>B QUIT",
            "B>P 221 2.0.0 Bye",
            "P>C 221 2.0.0 Bye",
        ];
        Assert.True(IsSubsequence(expected, trace), "trace:\n" + string.Join("\n", trace));
        Assert.Contains("B>P 250-PIPELINING", trace);
        Assert.DoesNotContain(harness.Log.Lines, l => l.Contains("secret", StringComparison.Ordinal));
        var session = Assert.Single(harness.Log.Lines, l => l.StartsWith("Information: session ", StringComparison.Ordinal));
        Assert.Contains(" M=1 ", session, StringComparison.Ordinal);
        Assert.Contains(" Q=1 ", session, StringComparison.Ordinal);
    }

    [Fact]
    public async Task InboundSession_ClientNotOnTheList_TracesNothing()
    {
        // Arrange: the same session as above, from a client the list does not name.
        await using var harness = new SessionHarness(FakeBackendOptions.Lockstep(), o => o.Trace.Clients = ["192.0.2.0/24", "::1"]);
        await harness.StartUpToDataAsync();

        // Act
        await harness.Client.SendAsync(Body + ".\r\nQUIT\r\n");
        await harness.Client.ReadReplyAsync();
        await harness.Client.ReadReplyAsync();
        await harness.WaitForEndAsync();

        // Assert: the session line (with its queue id), and no trace line at all.
        Assert.DoesNotContain(harness.Log.Lines, l => l.Contains(" trace ", StringComparison.Ordinal) || l.StartsWith("Information: trace", StringComparison.Ordinal));
        var session = Assert.Single(harness.Log.Lines, l => l.StartsWith("Information: session ", StringComparison.Ordinal));
        Assert.Contains(" Q=1 ", session, StringComparison.Ordinal);
    }

    [Fact]
    public async Task InboundSession_AuthPlainWithInitialResponse_IsMaskedEachWay()
    {
        // Arrange: a backend that takes PLAIN's initial response without a challenge.
        var backend = FakeBackendOptions.Lockstep("AUTH PLAIN LOGIN");
        backend.AuthChallenges = [];
        await using var harness = new SessionHarness(backend, o =>
        {
            o.AllowCleartextAuth = true;
            o.Trace.Clients = ["127.0.0.7"];
        });
        await harness.StartAndEhloAsync();

        // Act
        await harness.Client.SendAsync("AUTH PLAIN AGFsaWNlAHMzY3JldA==\r\n");
        Assert.Equal(["235 2.7.0 Authentication successful"], await harness.Client.ReadReplyAsync());
        await harness.Client.SendAsync("QUIT\r\n");
        await harness.Client.ReadReplyAsync();
        await harness.WaitForEndAsync();

        // Assert: the backend had the credentials; the log never did.
        Assert.Equal(["EHLO client.example", "AUTH PLAIN AGFsaWNlAHMzY3JldA==", "QUIT"], (await harness.BackendAsync()).CommandLines);
        var trace = TraceLines(harness.Log.Lines, "Information: trace H=[127.0.0.7]:40007 I=test ");
        Assert.True(IsSubsequence(["C>P AUTH PLAIN ****", "P>B AUTH PLAIN ****", "B>P 235 2.7.0 Authentication successful"], trace), string.Join("\n", trace));
        Assert.DoesNotContain(harness.Log.Lines, l => l.Contains("AGFsaWNl", StringComparison.Ordinal));
    }

    [Fact]
    public async Task InboundSession_AuthLoginAnswers_AreMaskedEachWayAndChallengesShown()
    {
        // Arrange
        await using var harness = new SessionHarness(FakeBackendOptions.Lockstep("AUTH PLAIN LOGIN"), o =>
        {
            o.AllowCleartextAuth = true;
            o.Trace.Clients = ["127.0.0.7"];
        });
        await harness.StartAndEhloAsync();

        // Act: the second answer spells a command; it is still an answer, and still masked.
        await harness.Client.SendAsync("AUTH LOGIN\r\n");
        await harness.Client.ReadReplyAsync();
        await harness.Client.SendAsync("dXNlcm5hbWU=\r\n");
        await harness.Client.ReadReplyAsync();
        await harness.Client.SendAsync("MAIL FROM:<pw>\r\n");
        Assert.Equal(["235 2.7.0 Authentication successful"], await harness.Client.ReadReplyAsync());
        await harness.Client.SendAsync("QUIT\r\n");
        await harness.Client.ReadReplyAsync();
        await harness.WaitForEndAsync();

        // Assert
        Assert.Equal(["dXNlcm5hbWU=", "MAIL FROM:<pw>"], (await harness.BackendAsync()).AuthAnswers);
        var trace = TraceLines(harness.Log.Lines, Trace);
        string[] expected =
        [
            "C>P AUTH LOGIN", "P>B AUTH LOGIN", "B>P 334 VXNlcm5hbWU6", "P>C 334 VXNlcm5hbWU6",
            "C>P ****", "P>B ****", "B>P 334 UGFzc3dvcmQ6", "P>C 334 UGFzc3dvcmQ6",
            "C>P ****", "P>B ****", "B>P 235 2.7.0 Authentication successful",
            "C>P QUIT", "P>B QUIT",
        ];
        Assert.True(IsSubsequence(expected, trace), string.Join("\n", trace));
        Assert.DoesNotContain(harness.Log.Lines, l => l.Contains("dXNlcm5hbWU=", StringComparison.Ordinal) || l.Contains("<pw>", StringComparison.Ordinal));
    }

    [Fact]
    public async Task InboundSession_BdatChunks_TracedBySizeNeverByContent()
    {
        // Arrange
        await using var harness = new SessionHarness(FakeBackendOptions.Pipelining("CHUNKING"), o => o.Trace.Clients = ["*"]);
        await harness.StartUpToRecipientAsync();

        // Act
        await harness.Client.SendAsync("BDAT 7\r\nsecretABDAT 9 LAST\r\nsecretB\r\n");
        await harness.Client.ReadReplyAsync();
        Assert.Equal(["250 2.0.0 Ok: queued as 1"], await harness.Client.ReadReplyAsync());
        await harness.Client.SendAsync("QUIT\r\n");
        await harness.Client.ReadReplyAsync();
        await harness.WaitForEndAsync();

        // Assert
        var trace = TraceLines(harness.Log.Lines, Trace);
        Assert.True(IsSubsequence(["C>P BDAT 7", "P>B BDAT 7", "C>P BDAT 9 LAST", "P>B BDAT 9 LAST", "B>P 250 2.0.0 Ok: queued as 1", "P>B QUIT"], trace),
            string.Join("\n", trace));
        Assert.DoesNotContain(harness.Log.Lines, l => l.Contains("secret", StringComparison.Ordinal));
        Assert.Contains(harness.Log.Lines, l => l.StartsWith("Information: session ", StringComparison.Ordinal) && l.Contains(" Q=1 ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task InboundSession_TwoMessages_SessionLineNamesBothQueueIdsInOrder()
    {
        // Arrange
        await using var harness = new SessionHarness(FakeBackendOptions.Lockstep());
        await harness.StartUpToDataAsync();

        // Act
        await harness.Client.SendAsync(Body + ".\r\n");
        await harness.Client.ReadReplyAsync();
        foreach (var command in new[] { HarnessExtensions.Sender, HarnessExtensions.Recipient, "DATA" })
        {
            await harness.Client.SendAsync(command + "\r\n");
            await harness.Client.ReadReplyAsync();
        }

        await harness.Client.SendAsync(Body + ".\r\nQUIT\r\n");
        await harness.Client.ReadReplyAsync();
        await harness.Client.ReadReplyAsync();
        await harness.WaitForEndAsync();

        // Assert
        var session = Assert.Single(harness.Log.Lines, l => l.StartsWith("Information: session ", StringComparison.Ordinal));
        Assert.Contains(" M=2 ", session, StringComparison.Ordinal);
        Assert.Contains(" Q=1 Q=2 end=", session, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OutboundSession_TracedSender_LogsBothSidesMasksAuthAndNamesTheRemoteQueueId()
    {
        // Arrange
        await using var harness = new OutboundSessionHarness(FakeBackendOptions.Lockstep("AUTH LOGIN"), configure: o => o.Trace.Clients = ["127.0.0.9/32"]);
        harness.Start();
        await harness.Client.ReadReplyAsync();
        await harness.CommandAsync(OutboundSessionHarness.SenderEhlo);

        // Act
        Assert.StartsWith("334", (await harness.CommandAsync("AUTH LOGIN"))[0], StringComparison.Ordinal);
        await harness.CommandAsync("dXNlcg==");
        Assert.Equal(["235 2.7.0 Authentication successful"], await harness.CommandAsync("c2VjcmV0"));
        Assert.Equal(["250 2.1.0 Ok"], await harness.CommandAsync(HarnessExtensions.Sender));
        await harness.CommandAsync(HarnessExtensions.Recipient);
        Assert.Equal(["250 2.0.0 Ok: queued as 1"], await harness.SendMessageAsync(Body));
        await harness.QuitAsync();

        // Assert
        var trace = TraceLines(harness.Log.Lines, "Information: trace H=[127.0.0.9]:40009 I=" + harness.Options.Name + " ");
        string[] expected =
        [
            "C>P AUTH LOGIN", "P>U AUTH LOGIN", "U>P 334 VXNlcm5hbWU6", "P>C 334 VXNlcm5hbWU6",
            "C>P ****", "P>U ****", "C>P ****", "P>U ****", "U>P 235 2.7.0 Authentication successful",
            "C>P MAIL FROM:<alice@example.org>", "P>U MAIL FROM:<alice@example.org>",
            "P>U DATA", "U>P 354 End data with <CR><LF>.<CR><LF>",
            $"C>P (message data: {Body.Length + 3} octets)", $"P>U (message data: {Body.Length + 3} octets)",
            "U>P 250 2.0.0 Ok: queued as 1", "P>C 250 2.0.0 Ok: queued as 1",
        ];
        Assert.True(IsSubsequence(expected, trace), string.Join("\n", trace));
        Assert.DoesNotContain(harness.Log.Lines, l => l.Contains("secret", StringComparison.Ordinal) || l.Contains("c2VjcmV0", StringComparison.Ordinal)
            || l.Contains("dXNlcg==", StringComparison.Ordinal));
        var session = Assert.Single(harness.Log.Lines, l => l.StartsWith("Information: outbound ", StringComparison.Ordinal));
        Assert.Contains(" Q=1 ", session, StringComparison.Ordinal);
    }

    private static string[] TraceLines(IReadOnlyList<string> log, string prefix) =>
        [.. log.Where(l => l.StartsWith(prefix, StringComparison.Ordinal)).Select(l => l[prefix.Length..])];

    /// <summary>Whether <paramref name="expected"/> appears in <paramref name="actual"/> in order (other lines may come between).</summary>
    private static bool IsSubsequence(string[] expected, string[] actual)
    {
        var at = 0;
        foreach (var line in actual)
        {
            if (at < expected.Length && line == expected[at])
            {
                at++;
            }
        }

        return at == expected.Length;
    }
}
