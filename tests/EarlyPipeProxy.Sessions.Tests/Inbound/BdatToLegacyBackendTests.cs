using EarlyPipeProxy.Sessions.Tests.TestSupport;
using static EarlyPipeProxy.Sessions.Tests.TestSupport.HarnessExtensions;

namespace EarlyPipeProxy.Sessions.Tests.Inbound;

/// <summary>
/// A BDAT client in front of a backend without CHUNKING: CHUNKING is offered anyway and the message reaches the backend
/// as DATA, dot-stuffed, with DATA's smuggling rules; the answer to BDAT LAST is the backend's verdict.
/// </summary>
public sealed class BdatToLegacyBackendTests
{
    private const string BareLineEndingReply = "550 5.5.2 Error: bare <CR>, <LF> or NUL in message data; message not delivered";

    [Fact]
    public async Task EarlyFlight_EhloMailRcptBdat_BackendGetsDataStuffedAndTheVerdictAnswersBdatLast()
    {
        // Arrange: the early flight's cheapest form, sent before the banner, with a body that needs stuffing.
        await using var harness = new SessionHarness(FakeBackendOptions.Lockstep());
        const string first = "Subject: dots\r\n\r\n.leading dot\r\n";
        const string last = ".\r\nMAIL FROM:<x@y>\r\n..two\r\nno final line end";
        await harness.Client.SendAsync($"{SessionHarness.ClientEhlo}\r\n{Sender}\r\n{Recipient}\r\nBDAT {first.Length}\r\n{first}BDAT {last.Length} LAST\r\n{last}QUIT\r\n");

        // Act
        harness.Start();
        var banner = await harness.Client.ReadReplyAsync();
        var ehlo = await harness.Client.ReadReplyAsync();
        var mail = await harness.Client.ReadReplyAsync();
        var rcpt = await harness.Client.ReadReplyAsync();
        var firstChunk = await harness.Client.ReadReplyAsync();
        var lastChunk = await harness.Client.ReadReplyAsync();
        var quit = await harness.Client.ReadReplyAsync();
        await harness.WaitForEndAsync();

        // Assert
        Assert.Equal([FakeBackendOptions.FinalBannerLine], banner);
        Assert.Contains(ehlo, line => line.EndsWith("CHUNKING", StringComparison.Ordinal));
        Assert.Equal(["250 2.1.0 Ok"], mail);
        Assert.Equal(["250 2.1.5 Ok"], rcpt);
        Assert.Equal([$"250 2.0.0 {first.Length} octets received"], firstChunk);
        Assert.Equal(["250 2.0.0 Ok: queued as 1"], lastChunk);
        Assert.Equal(["221 2.0.0 Bye"], quit);
        var backend = await harness.BackendAsync();
        Assert.True(backend.Violations.Count == 0, backend.Describe());
        Assert.Equal(["EHLO client.example", Sender, Recipient, "DATA", "QUIT"], backend.CommandLines);
        Assert.Equal(["Subject: dots\r\n\r\n..leading dot\r\n..\r\nMAIL FROM:<x@y>\r\n...two\r\nno final line end\r\n"], backend.Messages);
        Assert.Equal(["\r\n.\r\n"], backend.Terminators);
        Assert.Empty(backend.Chunks);
    }

    [Theory]
    [InlineData("Subject: x\r\n\r\nline\n.\nMAIL FROM:<evil@x>\r\n")]
    [InlineData("Subject: x\r\n\r\nline\r\n.\rMAIL FROM:<evil@x>\r\n")]
    [InlineData("Subject: x\r\n\r\nline\r\n\0.\r\nMAIL FROM:<evil@x>\r\n")]
    public async Task SmugglingInAChunk_Refused550AndTheBackendNeverSeesAnEndOfData(string chunk)
    {
        // Arrange
        await using var harness = new SessionHarness(FakeBackendOptions.Lockstep());
        await harness.StartUpToRecipientAsync();

        // Act
        await harness.Client.SendAsync($"BDAT {chunk.Length} LAST\r\n{chunk}");
        var everything = await harness.Client.ReadToEndAsync();
        await harness.WaitForEndAsync();

        // Assert
        Assert.Equal(BareLineEndingReply + "\r\n", everything);
        var backend = await harness.BackendAsync();
        Assert.True(await backend.SessionClosed.WaitAsync(Wire.Patience), "the backend connection must be reset");
        await backend.Completion.WaitAsync(Wire.Patience);
        Assert.Empty(backend.Messages);
        Assert.DoesNotContain("evil", backend.ReceivedText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BackendRefusesData_EveryChunkOfTheMessageGetsTheRefusalAndNothingOfItIsRelayed()
    {
        // Arrange
        var options = FakeBackendOptions.Lockstep();
        options.VerbReplies["DATA"] = "554 5.5.1 Error: no valid recipients";
        await using var harness = new SessionHarness(options);
        await harness.StartUpToRecipientAsync();

        // Act
        await harness.Client.SendAsync("BDAT 5\r\nNOOP\nBDAT 6 LAST\r\nRSET\r\nNOOP\r\n");
        var first = await harness.Client.ReadReplyAsync();
        var last = await harness.Client.ReadReplyAsync();
        var noop = await harness.Client.ReadReplyAsync();

        // Assert
        Assert.Equal(["554 5.5.1 Error: no valid recipients"], first);
        Assert.Equal(["554 5.5.1 Error: no valid recipients"], last);
        Assert.Equal(["250 2.0.0 Ok"], noop);
        var backend = await harness.BackendAsync();
        Assert.Equal(["EHLO client.example", Sender, Recipient, "DATA", "NOOP"], backend.CommandLines);
    }

    [Fact]
    public async Task RsetBetweenChunks_421AndTheBackendIsResetWithoutAnEndOfData()
    {
        // Arrange
        await using var harness = new SessionHarness(FakeBackendOptions.Lockstep());
        await harness.StartUpToRecipientAsync();

        // Act
        await harness.Client.SendAsync("BDAT 7\r\nhello\r\n");
        var first = await harness.Client.ReadReplyAsync();
        var backend = await harness.BackendAsync();
        await backend.WaitForReceivedAsync("hello\r\n");
        await harness.Client.SendAsync("NOOP\r\nMAIL FROM:<a@b>\r\nRSET\r\n");
        var noop = await harness.Client.ReadReplyAsync();
        var mail = await harness.Client.ReadReplyAsync();
        var rest = await harness.Client.ReadToEndAsync();
        await harness.WaitForEndAsync();

        // Assert
        Assert.Equal(["250 2.0.0 7 octets received"], first);
        Assert.Equal(["250 2.0.0 Ok"], noop);
        Assert.Equal(["503 5.5.1 Error: BDAT expected, a chunked message is in progress"], mail);
        Assert.Equal("421 4.5.0 Error: chunked message abandoned by RSET; closing connection\r\n", rest);
        Assert.True(await backend.SessionClosed.WaitAsync(Wire.Patience), "the backend connection must be reset");
        await backend.Completion.WaitAsync(Wire.Patience);
        Assert.Empty(backend.Messages);
        Assert.DoesNotContain("MAIL FROM:<a@b>", backend.ReceivedText, StringComparison.Ordinal);
        Assert.DoesNotContain("RSET", backend.ReceivedText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ClientLostInsideAConvertedChunk_BackendResetWithoutAnEndOfData()
    {
        // Arrange
        await using var harness = new SessionHarness(FakeBackendOptions.Lockstep());
        await harness.StartUpToRecipientAsync();
        await harness.Client.SendAsync("BDAT 100 LAST\r\nSubject: x\r\n\r\npart");
        var backend = await harness.BackendAsync();
        await backend.WaitForReceivedAsync("part");

        // Act
        harness.Client.Disconnect();
        await harness.WaitForEndAsync();

        // Assert
        Assert.True(await backend.SessionClosed.WaitAsync(Wire.Patience), "the backend connection must be reset");
        await backend.Completion.WaitAsync(Wire.Patience);
        Assert.Empty(backend.Messages);
        Assert.DoesNotContain("\r\n.\r\n", backend.ReceivedText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BinaryMimeToABackendWithoutChunking_555AndNeverRelayed()
    {
        // Arrange
        await using var harness = new SessionHarness(FakeBackendOptions.Lockstep("BINARYMIME"));
        var ehlo = await harness.StartAndEhloAsync();

        // Act
        await harness.Client.SendAsync("MAIL FROM:<a@example.org> BODY=BINARYMIME\r\nQUIT\r\n");
        var mail = await harness.Client.ReadReplyAsync();
        await harness.Client.ReadReplyAsync();
        await harness.WaitForEndAsync();

        // Assert
        Assert.DoesNotContain("250-BINARYMIME", ehlo);
        Assert.Contains(ehlo, line => line.EndsWith("CHUNKING", StringComparison.Ordinal));
        Assert.Equal(["555 5.5.4 Error: BODY=BINARYMIME not supported by the server behind this proxy"], mail);
        var backend = await harness.BackendAsync();
        Assert.Equal(["EHLO client.example", "QUIT"], backend.CommandLines);
    }
}
